module example.invalid/tokmesh-standin

go 1.19
