package ca

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/grpc/metadata"

	"github.com/bootgraph/bootgraph/internal/pemutil"
)

// minTokenLength rejects guessable tokens in a token file.
const minTokenLength = 16

// TokenFileAuthenticator accepts a bearer token listed in a static token
// file, for local use without Kubernetes. Each non-empty, non-# line is
// "token,namespace,serviceaccount". Tokens are compared in constant time,
// against every entry, so timing reveals neither a match nor its position.
type TokenFileAuthenticator struct {
	trustDomain string
	entries     []tokenEntry
}

type tokenEntry struct {
	digest [sha256.Size]byte
	id     string
}

// NewTokenFileAuthenticator reads path. A malformed line is an error naming
// the file and line.
func NewTokenFileAuthenticator(path, trustDomain string) (*TokenFileAuthenticator, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	a := &TokenFileAuthenticator{trustDomain: trustDomain}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, ",")
		if len(fields) != 3 {
			return nil, fmt.Errorf("token file %s line %d: want \"token,namespace,serviceaccount\", got %d fields", path, n, len(fields))
		}
		tok, ns, sa := strings.TrimSpace(fields[0]), strings.TrimSpace(fields[1]), strings.TrimSpace(fields[2])
		if len(tok) < minTokenLength {
			return nil, fmt.Errorf("token file %s line %d: token is shorter than %d characters", path, n, minTokenLength)
		}
		if ns == "" || sa == "" {
			return nil, fmt.Errorf("token file %s line %d: namespace and serviceaccount must not be empty", path, n)
		}
		a.entries = append(a.entries, tokenEntry{digest: sha256.Sum256([]byte(tok)), id: SpiffeID(trustDomain, ns, sa)})
	}
	if len(a.entries) == 0 {
		return nil, fmt.Errorf("token file %s: no tokens", path)
	}
	return a, nil
}

// Name implements Authenticator.
func (*TokenFileAuthenticator) Name() string { return "TokenFile" }

// Authenticate implements Authenticator.
func (a *TokenFileAuthenticator) Authenticate(ctx context.Context) (*Caller, error) {
	tok, ok, err := BearerToken(ctx)
	if !ok || err != nil {
		return nil, err
	}
	digest := sha256.Sum256([]byte(tok))
	match := -1
	for i := range a.entries {
		if subtle.ConstantTimeCompare(digest[:], a.entries[i].digest[:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return nil, errors.New("bearer token is not in the token file")
	}
	return &Caller{Identities: []string{a.entries[match].id}, AuthSource: a.Name()}, nil
}

// BearerToken returns the token of an "authorization: Bearer <token>" gRPC
// metadata value. ok is false when the header is absent.
func BearerToken(ctx context.Context) (token string, ok bool, err error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return "", false, nil
	}
	const prefix = "bearer "
	v := vals[0]
	if len(v) <= len(prefix) || !strings.EqualFold(v[:len(prefix)], prefix) {
		return "", true, errors.New("authorization metadata is not \"Bearer <token>\"")
	}
	return strings.TrimSpace(v[len(prefix):]), true, nil
}

// EnsureTokenFile creates path (0600, in a 0700 directory) with one random
// token for the default/default service account, unless it exists.
func EnsureTokenFile(path string) (created bool, err error) {
	if _, err := os.Stat(path); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("token file: %w", err)
	}
	// Create the directory 0700 if needed, but leave an existing one's
	// permissions alone: it may be the working directory.
	if err := os.MkdirAll(filepath.Dir(path), pemutil.SecretDirMode); err != nil {
		return false, fmt.Errorf("token file: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return false, fmt.Errorf("token file: %w", err)
	}
	line := "# token,namespace,serviceaccount\n" + base64.RawURLEncoding.EncodeToString(raw) + ",default,default\n"
	if err := pemutil.WriteSecretFile(path, []byte(line)); err != nil {
		return false, fmt.Errorf("token file: %w", err)
	}
	return true, nil
}
