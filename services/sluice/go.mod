module github.com/sluice-dev/sluice/services/sluice

go 1.26.0

require github.com/sluice-dev/sluice v0.0.0

replace github.com/sluice-dev/sluice => ../..

require github.com/sluice-dev/sluice/services/extractor v0.0.0

require (
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/term v0.47.0
)

replace github.com/sluice-dev/sluice/services/extractor => ../extractor
