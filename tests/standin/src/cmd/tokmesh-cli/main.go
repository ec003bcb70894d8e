// A stand-in of tokmesh-cli: the image build compiles it beside the server.
package main

import "fmt"

func main() { fmt.Println("tokmesh-cli stand-in") }
