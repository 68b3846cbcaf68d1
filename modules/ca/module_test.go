package ca_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bootgraph/bootgraph/caclient"
	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/modules/ca"
	grpcmod "github.com/bootgraph/bootgraph/modules/grpc"
	"github.com/bootgraph/bootgraph/modules/servingcert"
)

// tokenAuthenticator accepts one bearer token as one identity; other
// tokens are not its kind of credential, so the next one is tried.
type tokenAuthenticator struct {
	name, token, id string
}

func (a tokenAuthenticator) Name() string { return a.name }

func (a tokenAuthenticator) Authenticate(ctx context.Context) (*ca.Caller, error) {
	tok, ok, err := ca.BearerToken(ctx)
	if !ok || err != nil || tok != a.token {
		return nil, err
	}
	return &ca.Caller{Identities: []string{a.id}, AuthSource: a.name}, nil
}

// tokenTable is something of the graph that a provided authenticator
// needs, as the kube part's TokenReview needs a client.
type tokenTable map[string]string

// tableAuthenticator looks the bearer token up in a tokenTable.
type tableAuthenticator struct{ table tokenTable }

func (*tableAuthenticator) Name() string { return "Table" }

func (a *tableAuthenticator) Authenticate(ctx context.Context) (*ca.Caller, error) {
	tok, ok, err := ca.BearerToken(ctx)
	if !ok || err != nil {
		return nil, err
	}
	if id, found := a.table[tok]; found {
		return &ca.Caller{Identities: []string{id}, AuthSource: "Table"}, nil
	}
	return nil, nil
}

const (
	staticToken = "static-token-0123456789"
	staticID    = "spiffe://cluster.local/ns/static/sa/one"
	tableToken  = "table-token-0123456789"
	tableID     = "spiffe://cluster.local/ns/table/sa/two"
)

// plane composes the CA with the real serving certificate and secure gRPC
// parts, in dataDir, and the extra options.
func plane(t *testing.T, dataDir string, extra ...fx.Option) (*fxtest.App, *ca.CA, *grpcmod.Server) {
	t.Helper()
	var (
		c *ca.CA
		s *grpcmod.Server
	)
	app := fxtest.New(t, append([]fx.Option{
		fx.NopLogger,
		fx.Provide(zap.NewNop),
		component.SupplyEnv(component.Env{DataDir: dataDir}),
		ca.Module(ca.Options{}),
		servingcert.Module(servingcert.Options{}),
		grpcmod.Module(grpcmod.Options{Addr: "127.0.0.1:0"}),
		fx.Populate(&c, &s),
	}, extra...)...)
	return app, c, s
}

// issue asks the plane's CA for a certificate with token over TLS and
// returns the identity it was issued for.
func issue(t *testing.T, c *ca.CA, addr, token string) (string, error) {
	t.Helper()
	client, err := caclient.Dial(caclient.Config{Addr: addr, RootsPEM: c.RootPEM(), ServerName: "localhost", Token: token})
	require.NoError(t, err)
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := client.Issue(ctx, caclient.KeyECDSAP256, time.Hour)
	if err != nil {
		return "", err
	}
	require.Len(t, res.Leaf.URIs, 1)
	return res.Leaf.URIs[0].String(), nil
}

// Authenticators join the CA's chain through Authenticate (a value) and
// ProvideAuthenticator (a constructor of the graph); the CA service on the
// secure gRPC listener then accepts their callers over TLS. In local mode
// the module keeps its root in <Env.DataDir>/ca and creates a token file
// in <Env.DataDir>.
func TestModuleAuthenticators(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	app, c, s := plane(t, dataDir,
		ca.Authenticate(tokenAuthenticator{name: "Static", token: staticToken, id: staticID}),
		fx.Supply(tokenTable{tableToken: tableID}),
		ca.ProvideAuthenticator(func(table tokenTable) *tableAuthenticator { return &tableAuthenticator{table: table} }),
	)
	app.RequireStart()
	defer app.RequireStop()

	id, err := issue(t, c, s.Addr(), staticToken)
	require.NoError(t, err)
	assert.Equal(t, staticID, id, "joined through ca.Authenticate")

	id, err = issue(t, c, s.Addr(), tableToken)
	require.NoError(t, err)
	assert.Equal(t, tableID, id, "joined through ca.ProvideAuthenticator, built from the graph")

	_, err = issue(t, c, s.Addr(), "no-one-knows-this-token")
	require.Error(t, err)
	assert.Equal(t, codes.Unauthenticated, status.Code(err), err.Error())

	// Local mode: the root lives in <DataDir>/ca, and the token file the
	// module created in <DataDir> authenticates default/default.
	assert.Equal(t, filepath.Join(dataDir, "ca"), c.Options().DataDir)
	assert.FileExists(t, filepath.Join(dataDir, "ca", ca.RootCertFile))
	content, err := os.ReadFile(filepath.Join(dataDir, ca.TokenFileName))
	require.NoError(t, err, "the local token file was created")
	var localToken string
	for _, line := range strings.Split(string(content), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			localToken, _, _ = strings.Cut(line, ",")
		}
	}
	require.NotEmpty(t, localToken)
	id, err = issue(t, c, s.Addr(), localToken)
	require.NoError(t, err)
	assert.Equal(t, "spiffe://cluster.local/ns/default/sa/default", id, "the local token file authenticates")
}

// In a cluster (a component.Cluster in the graph) there is no local token
// file: only the authenticators that joined are used.
func TestModuleInClusterHasNoTokenFile(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	app, c, s := plane(t, dataDir,
		fx.Supply(&component.Cluster{ID: "test", Namespace: component.DefaultNamespace}),
		ca.Authenticate(tokenAuthenticator{name: "Static", token: staticToken, id: staticID}),
	)
	app.RequireStart()
	defer app.RequireStop()

	id, err := issue(t, c, s.Addr(), staticToken)
	require.NoError(t, err)
	assert.Equal(t, staticID, id)
	_, err = os.Stat(filepath.Join(dataDir, ca.TokenFileName))
	assert.ErrorIs(t, err, fs.ErrNotExist, "no local token file in a cluster")
}

func TestProvideAuthenticatorErrors(t *testing.T) {
	t.Parallel()
	// A failing constructor fails the composition with its error.
	err := fx.New(fx.NopLogger, fx.Provide(zap.NewNop),
		component.SupplyEnv(component.Env{DataDir: t.TempDir()}),
		ca.Module(ca.Options{}),
		servingcert.Module(servingcert.Options{}),
		grpcmod.Module(grpcmod.Options{Addr: "127.0.0.1:0"}),
		ca.ProvideAuthenticator(func() (*tableAuthenticator, error) { return nil, errors.New("no authenticator today") }),
	).Err()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no authenticator today")

	for _, ctor := range []any{nil, tokenAuthenticator{}, func() {}, func() string { return "" }} {
		err := fx.New(fx.NopLogger, ca.ProvideAuthenticator(ctor)).Err()
		require.Error(t, err, "%T", ctor)
		assert.Contains(t, err.Error(), "ca.ProvideAuthenticator: want a constructor whose first result implements ca.Authenticator")
	}
}
