module github.com/sluice-dev/sluice/services/simulators/portal

go 1.26.0

require github.com/sluice-dev/sluice v0.0.0

replace github.com/sluice-dev/sluice => ../../..
