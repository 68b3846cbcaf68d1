// Command webhook-files is an admission webhook server on certificate
// files of your own (istiod's files provider: --tlsCertFile/--tlsKeyFile),
// with no CA at all. Its one handler refuses pods without a "team" label.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"encoding/json"
	"go.uber.org/fx"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bootgraph/bootgraph"
	"github.com/bootgraph/bootgraph/modules/servingcert"
	"github.com/bootgraph/bootgraph/modules/webhook"
)

func main() {
	cert := flag.String("cert", "", "serving certificate chain (PEM)")
	key := flag.String("key", "", "serving key (PEM)")
	addr := flag.String("addr", webhook.DefaultAddr, "HTTPS listen address")
	flag.Parse()

	p, err := bootgraph.New(bootgraph.Options{},
		servingcert.Module(servingcert.Options{CertFile: *cert, KeyFile: *key}),
		webhook.Module(webhook.Options{Addr: *addr}),
		webhook.HandleAdmission("/validate", requireTeam),
		fx.Invoke(sayReady),
	)
	if err == nil {
		err = p.Run(context.Background()) // until SIGINT or SIGTERM
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "webhook-files:", err)
		os.Exit(1)
	}
}

// sayReady prints the bound address once the server serves.
func sayReady(lc fx.Lifecycle, s *webhook.Server) {
	lc.Append(fx.StartHook(func() { fmt.Printf("ready webhook=%s\n", s.Addr()) }))
}

// requireTeam allows a pod only if it has a "team" label.
func requireTeam(_ context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{Message: "not a pod: " + err.Error()}}
	}
	if pod.Labels["team"] == "" {
		return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{Message: "pod " + pod.Name + " has no team label"}}
	}
	return &admissionv1.AdmissionResponse{Allowed: true}
}
