package ca_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/metadata"

	"github.com/bootgraph/bootgraph/modules/ca"
)

const (
	tokenA = "0123456789abcdef-team-a"
	tokenB = "fedcba9876543210-team-b"
)

func writeTokenFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens.csv")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func bearerCtx(vals ...string) context.Context {
	md := metadata.MD{}
	for _, v := range vals {
		md.Append("authorization", v)
	}
	return metadata.NewIncomingContext(context.Background(), md)
}

func TestNewTokenFileAuthenticator(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content string
		// wantIDs maps a token to the identity it must authenticate as.
		wantIDs map[string]string
		// wantErr are substrings of the error; "$path" stands for the file.
		wantErr []string
	}{
		{
			name: "comments, blank lines and spaces",
			content: "# token,namespace,serviceaccount\n" +
				"\n" +
				"   \n" +
				tokenA + ",team-a,builder\n" +
				"  # indented comment\n" +
				"  " + tokenB + " , team-b , deployer  \n",
			wantIDs: map[string]string{
				tokenA: "spiffe://example.org/ns/team-a/sa/builder",
				tokenB: "spiffe://example.org/ns/team-b/sa/deployer",
			},
		},
		{
			name:    "no trailing newline and CRLF",
			content: tokenA + ",a,b\r\n" + tokenB + ",c,d",
			wantIDs: map[string]string{
				tokenA: "spiffe://example.org/ns/a/sa/b",
				tokenB: "spiffe://example.org/ns/c/sa/d",
			},
		},
		{
			name:    "too few fields",
			content: "# header\n" + tokenA + ",a,b\n" + tokenB + ",c\n",
			wantErr: []string{"$path line 3", "got 2 fields"},
		},
		{
			name:    "too many fields",
			content: tokenA + ",a,b,extra\n",
			wantErr: []string{"$path line 1", "got 4 fields"},
		},
		{
			name:    "one field",
			content: "\n\n" + tokenA + "\n",
			wantErr: []string{"$path line 3", "got 1 fields"},
		},
		{
			name:    "short token",
			content: tokenA + ",a,b\n" + "short,a,b\n",
			wantErr: []string{"$path line 2", "shorter than 16"},
		},
		{
			name:    "empty namespace",
			content: tokenA + ",,b\n",
			wantErr: []string{"$path line 1", "must not be empty"},
		},
		{
			name:    "empty service account",
			content: tokenA + ",a, \n",
			wantErr: []string{"$path line 1", "must not be empty"},
		},
		{
			name:    "empty file",
			content: "",
			wantErr: []string{"$path", "no tokens"},
		},
		{
			name:    "only comments",
			content: "# token,namespace,serviceaccount\n\n# nothing here\n",
			wantErr: []string{"$path", "no tokens"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeTokenFile(t, tt.content)
			a, err := ca.NewTokenFileAuthenticator(path, "example.org")
			if len(tt.wantErr) > 0 {
				require.Error(t, err)
				assert.Nil(t, a)
				assert.True(t, strings.HasPrefix(err.Error(), "token file "+path), "error %q must name the file", err)
				for _, want := range tt.wantErr {
					assert.Contains(t, err.Error(), strings.ReplaceAll(want, "$path", path))
				}
				// A token must never be echoed into an error.
				assert.NotContains(t, err.Error(), tokenA)
				assert.NotContains(t, err.Error(), tokenB)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "TokenFile", a.Name())
			for tok, want := range tt.wantIDs {
				caller, err := a.Authenticate(bearerCtx("Bearer " + tok))
				require.NoError(t, err)
				require.NotNil(t, caller)
				assert.Equal(t, []string{want}, caller.Identities)
				assert.Equal(t, "TokenFile", caller.AuthSource)
			}
		})
	}

	t.Run("missing file", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "absent.csv")
		_, err := ca.NewTokenFileAuthenticator(path, "cluster.local")
		require.Error(t, err)
		assert.True(t, strings.HasPrefix(err.Error(), "token file: "), "error %q must say it is the token file", err)
		assert.Contains(t, err.Error(), path)
		assert.ErrorIs(t, err, fs.ErrNotExist)
	})
}

func TestTokenFileAuthenticate(t *testing.T) {
	t.Parallel()
	a, err := ca.NewTokenFileAuthenticator(writeTokenFile(t, tokenA+",team-a,builder\n"+tokenB+",team-b,deployer\n"), "cluster.local")
	require.NoError(t, err)

	tests := []struct {
		name    string
		ctx     context.Context
		wantID  string // "" with wantErr "": no credential (nil, nil)
		wantErr string
	}{
		{name: "no metadata", ctx: context.Background()},
		{name: "other metadata only", ctx: metadata.NewIncomingContext(context.Background(), metadata.Pairs("x-other", "v"))},
		{name: "first token", ctx: bearerCtx("Bearer " + tokenA), wantID: "spiffe://cluster.local/ns/team-a/sa/builder"},
		{name: "second token", ctx: bearerCtx("Bearer " + tokenB), wantID: "spiffe://cluster.local/ns/team-b/sa/deployer"},
		{name: "lower-case scheme", ctx: bearerCtx("bearer " + tokenB), wantID: "spiffe://cluster.local/ns/team-b/sa/deployer"},
		{name: "unknown token", ctx: bearerCtx("Bearer this-token-is-not-listed"), wantErr: "not in the token file"},
		{name: "prefix of a token", ctx: bearerCtx("Bearer " + tokenA[:len(tokenA)-1]), wantErr: "not in the token file"},
		{name: "token with suffix", ctx: bearerCtx("Bearer " + tokenA + "x"), wantErr: "not in the token file"},
		{name: "basic auth", ctx: bearerCtx("Basic dXNlcjpwYXNz"), wantErr: "not \"Bearer <token>\""},
		{name: "empty bearer", ctx: bearerCtx("Bearer "), wantErr: "not \"Bearer <token>\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			caller, err := a.Authenticate(tt.ctx)
			switch {
			case tt.wantErr != "":
				require.Error(t, err)
				assert.Nil(t, caller)
				assert.Contains(t, err.Error(), tt.wantErr)
			case tt.wantID == "":
				require.NoError(t, err)
				assert.Nil(t, caller, "no credential: the next authenticator must be tried")
			default:
				require.NoError(t, err)
				require.NotNil(t, caller)
				assert.Equal(t, []string{tt.wantID}, caller.Identities)
			}
		})
	}
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		ctx     context.Context
		want    string
		wantOK  bool
		wantErr bool
	}{
		{name: "no metadata", ctx: context.Background()},
		{name: "no authorization header", ctx: metadata.NewIncomingContext(context.Background(), metadata.Pairs("x-token", "abc"))},
		{name: "outgoing metadata is not incoming", ctx: metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer abc")},
		{name: "Bearer", ctx: bearerCtx("Bearer abc.def"), want: "abc.def", wantOK: true},
		{name: "bearer lower case", ctx: bearerCtx("bearer TOKEN"), want: "TOKEN", wantOK: true},
		{name: "BEARER upper case", ctx: bearerCtx("BEARER TOKEN"), want: "TOKEN", wantOK: true},
		{name: "surrounding spaces trimmed", ctx: bearerCtx("Bearer   TOKEN  "), want: "TOKEN", wantOK: true},
		{name: "first value wins", ctx: bearerCtx("Bearer one", "Bearer two"), want: "one", wantOK: true},
		{name: "Basic", ctx: bearerCtx("Basic x"), wantOK: true, wantErr: true},
		{name: "scheme only", ctx: bearerCtx("Bearer"), wantOK: true, wantErr: true},
		{name: "scheme and space only", ctx: bearerCtx("Bearer "), wantOK: true, wantErr: true},
		{name: "no space", ctx: bearerCtx("BearerTOKEN"), wantOK: true, wantErr: true},
		{name: "bare token", ctx: bearerCtx("0123456789abcdef"), wantOK: true, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok, ok, err := ca.BearerToken(tt.ctx)
			assert.Equal(t, tt.wantOK, ok)
			if tt.wantErr {
				require.Error(t, err)
				assert.Empty(t, tok)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, tok)
		})
	}
}

func TestEnsureTokenFile(t *testing.T) {
	t.Parallel()

	t.Run("creates", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(t.TempDir(), "state", "bootgraph")
		path := filepath.Join(dir, "tokens.csv")
		created, err := ca.EnsureTokenFile(path)
		require.NoError(t, err)
		assert.True(t, created)

		st, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, fs.FileMode(0o600), st.Mode().Perm(), "token file mode")
		st, err = os.Stat(dir)
		require.NoError(t, err)
		assert.Equal(t, fs.FileMode(0o700), st.Mode().Perm(), "token dir mode")

		content, err := os.ReadFile(path)
		require.NoError(t, err)
		var entries []string
		for _, l := range strings.Split(string(content), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				entries = append(entries, l)
			}
		}
		require.Len(t, entries, 1, "one token entry")
		fields := strings.Split(entries[0], ",")
		require.Len(t, fields, 3)
		assert.GreaterOrEqual(t, len(fields[0]), 32, "the generated token must be long")
		assert.Equal(t, []string{"default", "default"}, fields[1:])

		a, err := ca.NewTokenFileAuthenticator(path, "cluster.local")
		require.NoError(t, err, "the created file must parse")
		caller, err := a.Authenticate(bearerCtx("Bearer " + fields[0]))
		require.NoError(t, err)
		require.NotNil(t, caller)
		assert.Equal(t, []string{"spiffe://cluster.local/ns/default/sa/default"}, caller.Identities)

		// Idempotent: a second call keeps the token.
		created, err = ca.EnsureTokenFile(path)
		require.NoError(t, err)
		assert.False(t, created)
		again, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, content, again)
	})

	t.Run("tokens differ between files", func(t *testing.T) {
		t.Parallel()
		p1, p2 := filepath.Join(t.TempDir(), "a.csv"), filepath.Join(t.TempDir(), "b.csv")
		_, err := ca.EnsureTokenFile(p1)
		require.NoError(t, err)
		_, err = ca.EnsureTokenFile(p2)
		require.NoError(t, err)
		b1, err := os.ReadFile(p1)
		require.NoError(t, err)
		b2, err := os.ReadFile(p2)
		require.NoError(t, err)
		assert.NotEqual(t, b1, b2)
	})

	t.Run("keeps an existing file", func(t *testing.T) {
		t.Parallel()
		content := tokenA + ",team-a,builder\n"
		path := writeTokenFile(t, content)
		created, err := ca.EnsureTokenFile(path)
		require.NoError(t, err)
		assert.False(t, created)
		got, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, content, string(got), "an existing token file must not be overwritten")
	})
}

// An existing directory keeps its permissions: the token file may live in
// the working directory.
func TestEnsureTokenFileLeavesExistingDirAlone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o755))
	created, err := ca.EnsureTokenFile(filepath.Join(dir, "tokens.csv"))
	require.NoError(t, err)
	require.True(t, created)
	st, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o755), st.Mode().Perm())
}
