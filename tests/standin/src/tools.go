//go:build tools

// The stand-in's own departure from tokmesh-go's layout: importing protoc-gen-go here
// makes `go mod vendor` keep it, so the tests' offline image builds can build it as the
// tree's Dockerfile does (from the module the go.mod pins).
package tools

import _ "google.golang.org/protobuf/cmd/protoc-gen-go"
