module github.com/sluice-dev/sluice/services/extractor

go 1.26.0

require github.com/sluice-dev/sluice v0.0.0

require (
	github.com/robfig/cron/v3 v3.0.1
	github.com/sluice-dev/sluice/services/simulators/amazonads v0.0.0
)

replace (
	github.com/sluice-dev/sluice => ../..
	github.com/sluice-dev/sluice/services/simulators/amazonads => ../simulators/amazonads
)
