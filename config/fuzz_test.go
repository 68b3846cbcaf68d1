package config_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/bootgraph/bootgraph/config"
)

// FuzzConfigDecode decodes a fuzzed config file into the default
// configuration. Decoding and validating never panic and give the same
// errors every time; a document that decodes round-trips: the settings
// and every part's options and on/off state, written back to YAML, decode
// to the same configuration.
func FuzzConfigDecode(f *testing.F) {
	for _, seed := range []string{
		"",
		"null",
		"[]",
		"42",
		"namespace: mesh\ndataDir: /var/lib/plane\nca:\n  trustDomain: example.org\n  keyType: rsa-2048\n  maxCertTTL: 48h\n" +
			"servingCert:\n  dnsNames: [cp.example.org]\ngrpc:\n  addr: 0.0.0.0:15012\nmonitoring:\n  enabled: false\nstartTimeout: 30s\n",
		`{"namespace": "mesh", "ca": {"rootTTL": "87600h"}, "log": {"level": "debug", "format": "json"}}`,
		"nmespace: mesh\n",
		"ca:\n  trustDomian: x\n",
		"ca: [1, 2]\n",
		"ca:\n  enabled: maybe\n",
		"ca:\n  enabled: null\n",
		"startTimeout: -1s\nstopTimeout: 0s\n",
		"startTimeout: 1e400\n",
		"startTimeout: 100000000000000h\n",
		"grpc:\n  maxConcurrentStreams: 4294967296\n",
		"grpc:\n  maxConcurrentStreams: -1\n",
		"grpc:\n  maxRecvMsgBytes: 1.5\n",
		"webhook:\n  maxRequestBytes: 9223372036854775808\n",
		"webhook:\n  maxRequestBytes: 1e19\n",
		"a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\n",
		"---\nnamespace: a\n---\nnamespace: b\n",
		"\ufeffnamespace: mesh\n",
		"namespace:\tmesh\n",
		"namespace: mesh\nnamespace: other\n",
		"servingCert:\n  dnsNames: []\n",
		"log: {level: loud}\n",
		"? [a, b]\n: c\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := config.New()
		err := c.Decode(data)
		again := config.New()
		if err2 := again.Decode(data); errText(err) != errText(err2) {
			t.Fatalf("two decodings disagree:\n%v\n---\n%v", err, err2)
		}
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an empty error")
			}
			return
		}
		if v1, v2 := c.Validate(), c.Validate(); errText(v1) != errText(v2) {
			t.Fatalf("two validations disagree:\n%v\n---\n%v", v1, v2)
		}
		doc := encode(t, c)
		back := config.New()
		if err := back.Decode(doc); err != nil {
			t.Fatalf("the accepted configuration, written back, is refused: %v\n%s", err, doc)
		}
		if a, b := encode(t, c), encode(t, back); !bytes.Equal(a, b) {
			t.Fatalf("the configuration changed in a round trip:\n%s\n---\n%s", a, b)
		}
	})
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// encode writes c as a config file: the settings, and every part's
// options and whether it is on.
func encode(t *testing.T, c *config.Config) []byte {
	t.Helper()
	doc := map[string]any{}
	settings, err := json.Marshal(c.Settings)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(settings, &doc); err != nil {
		t.Fatal(err)
	}
	for _, p := range c.Parts() {
		raw, err := json.Marshal(c.Section(p.Name()).Options())
		if err != nil {
			t.Fatalf("part %s: %v", p.Name(), err)
		}
		sec := map[string]any{}
		if err := json.Unmarshal(raw, &sec); err != nil {
			t.Fatalf("part %s: %v", p.Name(), err)
		}
		sec["enabled"] = c.Enabled(p.Name())
		doc[p.Name()] = sec
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
