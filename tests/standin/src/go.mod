module github.com/yndnr/tokmesh-go

go 1.19
