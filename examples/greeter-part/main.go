// Command greeter-bootgraph is bootgraph's CLI with two parts of its own,
// defined in this module and not in bootgraph's repository.
package main

import (
	"os"

	"github.com/bootgraph/bootgraph/cli"
	"github.com/bootgraph/bootgraph/config"

	"example.com/greeter/greeter"
	"example.com/greeter/greeterweb"
)

func main() { os.Exit(cli.Main(append(config.Builtin(), greeter.Part, greeterweb.Part)...)) }
