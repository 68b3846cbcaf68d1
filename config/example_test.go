package config_test

import (
	"fmt"
	"os"

	"github.com/bootgraph/bootgraph/config"
	"github.com/bootgraph/bootgraph/modules/grpc"
	"github.com/bootgraph/bootgraph/modules/monitoring"
)

// A config file is strict: a misspelt field is an error naming the file,
// the field's path and what is valid there.
func ExampleConfig_Decode() {
	cfg := config.New()
	err := cfg.Decode([]byte("grpc:\n  adr: 127.0.0.1:0\n"))
	fmt.Println(err)
	// Output: unknown field "grpc.adr" (valid here: addr, connectionTimeout, drainTimeout, enabled, keepalive, maxConcurrentStreams, maxConnections, maxHeaderListBytes, maxRecvMsgBytes, maxSendMsgBytes, recvBufferBytes, recvTimeout)
}

// From Go, a part's options are typed; Validate speaks the file's language,
// with the flag that sets a field.
func ExampleOptions() {
	cfg := config.New()
	config.Options[grpc.Options](cfg, "grpc").Addr = "15012"
	fmt.Println(cfg.Validate())
	// Output: grpc.addr (--grpc-addr): "15012" is not host:port: address 15012: missing port in address
}

// WriteReference is the config reference: every part's section with its
// defaults, as `bootgraph modules --format yaml` prints it.
func ExampleWriteReference() {
	_ = config.WriteReference(os.Stdout, monitoring.Part)
	// Output:
	// namespace: istio-system         # the plane's namespace: its serving certificate names istiod.<namespace>.svc
	// dataDir: .bootgraph             # local state: the CA (dataDir/ca), the token file (dataDir/tokens.csv)
	// startTimeout: 15s               # every OnStart hook together; on timeout, what started is stopped
	// stopTimeout: 15s                # graceful stop, draining included
	// log:
	//   level: info                   # debug | info | warn | error
	//   format: console               # console | json
	//
	// # monitoring: the monitoring listener (istiod's 15014): /metrics, /ready for every listener, /healthz
	// monitoring:
	//   enabled: true                 # include this part
	//   addr: "127.0.0.1:15014"       # listen address
	//   readHeaderTimeout: 10s        # bounds reading request headers
	//   readTimeout: 10s              # bounds reading a whole request, body included
	//   idleTimeout: 1m30s            # closes idle keep-alive connections
	//   maxConnections: 1024          # connections open at once; when full the oldest unanswered one makes room
	//   drainTimeout: 1s              # on stop, requests in flight get this long; then the rest is closed
}
