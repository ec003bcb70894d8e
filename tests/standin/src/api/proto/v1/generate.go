// Package clusterv1 holds the stand-in's generated protobuf code.  As in tokmesh-go,
// cluster.pb.go is generated, not committed (.gitignore): the build needs
// `go generate ./api/proto/v1`, that is protoc and protoc-gen-go.
package clusterv1

//go:generate protoc --proto_path=. --go_out=. --go_opt=paths=source_relative cluster.proto
