module github.com/sluice-dev/sluice/e2e

go 1.26.0

require (
	github.com/sluice-dev/sluice v0.0.0
	github.com/sluice-dev/sluice/services/extractor v0.0.0
)

replace (
	github.com/sluice-dev/sluice => ../
	github.com/sluice-dev/sluice/services/extractor => ../services/extractor
)
