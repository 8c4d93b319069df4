module github.com/sluice-dev/sluice/services/simulators/catalog

go 1.26.0
