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
	"k8s.io/apimachinery/pkg/util/validation"

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

// NewTokenFileAuthenticator reads path: a regular file of at most
// pemutil.MaxFileSize that only its owner may read (pemutil's rule for
// private files). Each line's namespace must be a DNS-1123 label and its
// service account a DNS-1123 subdomain, as Kubernetes requires, since they
// become a SPIFFE ID; a token must be printable ASCII (what gRPC metadata
// carries), at least 16 characters, and on one line only, so that it names
// one identity. Errors name the file and line, never a token.
func NewTokenFileAuthenticator(path, trustDomain string) (*TokenFileAuthenticator, error) {
	data, err := pemutil.ReadPrivateFile(path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	a := &TokenFileAuthenticator{trustDomain: trustDomain}
	data = bytes.TrimPrefix(data, []byte("\ufeff")) // a byte order mark from a Windows editor
	seen := make(map[[sha256.Size]byte]int)         // token digest -> index in a.entries
	var lines []int                                 // line of each entry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxTokenLine)
	n := 0
	for sc.Scan() {
		n++
		e, ok, err := parseTokenLine(sc.Text(), trustDomain)
		if err != nil {
			return nil, fmt.Errorf("token file %s line %d: %w", path, n, err)
		}
		if !ok {
			continue
		}
		if i, dup := seen[e.digest]; dup {
			return nil, fmt.Errorf("token file %s line %d: the token of line %d again (line %d: %s, line %d: %s); give each identity a token of its own",
				path, n, lines[i], lines[i], a.entries[i].id, n, e.id)
		}
		seen[e.digest] = len(a.entries)
		a.entries = append(a.entries, e)
		lines = append(lines, n)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("token file %s line %d: %w (a line may have at most %d bytes)", path, n+1, err, maxTokenLine)
	}
	if len(a.entries) == 0 {
		return nil, fmt.Errorf("token file %s: no tokens", path)
	}
	return a, nil
}

// maxTokenLine bounds a line of a token file.
const maxTokenLine = 4096

// parseTokenLine parses one line of a token file; ok is false for a blank
// line or a comment.
func parseTokenLine(line, trustDomain string) (e tokenEntry, ok bool, err error) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return e, false, nil
	}
	fields := strings.Split(line, ",")
	if len(fields) != 3 {
		return e, false, fmt.Errorf("want \"token,namespace,serviceaccount\", got %d fields", len(fields))
	}
	tok, ns, sa := strings.TrimSpace(fields[0]), strings.TrimSpace(fields[1]), strings.TrimSpace(fields[2])
	if len(tok) < minTokenLength {
		return e, false, fmt.Errorf("token is shorter than %d characters", minTokenLength)
	}
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c < 0x21 || c > 0x7e {
			return e, false, fmt.Errorf("token has a byte 0x%02x at %d: a bearer token is printable ASCII without spaces", c, i+1)
		}
	}
	if ns == "" || sa == "" {
		return e, false, errors.New("namespace and serviceaccount must not be empty")
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return e, false, fmt.Errorf("namespace %q is not a Kubernetes namespace name: %s", ns, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(sa); len(errs) > 0 {
		return e, false, fmt.Errorf("serviceaccount %q is not a Kubernetes service account name: %s", sa, strings.Join(errs, "; "))
	}
	return tokenEntry{digest: sha256.Sum256([]byte(tok)), id: SpiffeID(trustDomain, ns, sa)}, true, nil
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
	vals := metadata.ValueFromIncomingContext(ctx, "authorization") // without copying the rest
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
	// A crash while creating the file left a temp file with a token in it.
	if _, err := pemutil.RemoveTemps(filepath.Dir(path), filepath.Base(path)); err != nil {
		return false, fmt.Errorf("token file: remove the temp files of an interrupted write: %w", err)
	}
	if _, err := os.Lstat(path); err == nil {
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
