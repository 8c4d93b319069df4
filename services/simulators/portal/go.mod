module github.com/sluice-dev/sluice/services/simulators/portal

go 1.26.0
