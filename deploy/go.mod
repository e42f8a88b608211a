module github.com/serviceping/serviceping/deploy

go 1.26.0
