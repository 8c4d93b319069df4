module github.com/sluice-dev/sluice/services/simulators/amazonads

go 1.26.0
