package component_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bootgraph/bootgraph/component"
)

func TestFieldErrorText(t *testing.T) {
	t.Parallel()
	cause := errors.New("must be positive")
	fe := &component.FieldError{Path: "rootTTL", Err: cause}
	assert.EqualError(t, fe, "rootTTL: must be positive")
	assert.ErrorIs(t, fe, cause)

	fe.Aliases = []string{"--root-ttl", "$ROOT_TTL"}
	assert.EqualError(t, fe, "rootTTL (--root-ttl, $ROOT_TTL): must be positive")

	assert.EqualError(t, &component.FieldError{Err: cause}, "must be positive", "no path: the message alone")
	assert.EqualError(t, &component.FieldError{Path: "a.b", Valid: []string{"c", "d"}}, `unknown field "a.b" (valid here: c, d)`)

	err := component.FieldErrorf("zones[0]", "%q is not a domain", "x y")
	var got *component.FieldError
	require.ErrorAs(t, err, &got)
	assert.Equal(t, "zones[0]", got.Path)
	assert.EqualError(t, err, `zones[0]: "x y" is not a domain`)
}

func TestJoinPath(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ a, b, want string }{
		{"", "", ""},
		{"ca", "", "ca"},
		{"", "keyType", "keyType"},
		{"ca", "keyType", "ca.keyType"},
		{"webhook", "patch.labelSelector", "webhook.patch.labelSelector"},
		{"dns.zones", "[0]", "dns.zones[0]"},
	} {
		assert.Equal(t, tt.want, component.JoinPath(tt.a, tt.b), "%q + %q", tt.a, tt.b)
	}
}

// joined is what a part's Validate returns: several field errors, and
// maybe an error that is not about a field.
func joined() (*component.FieldError, error) {
	first := &component.FieldError{Path: "keyType", Err: errors.New(`"dsa" is not one of ecdsa-p256, rsa-2048`)}
	return first, errors.Join(
		first,
		errors.New("not about a field"),
		errors.Join(component.FieldErrorf("patch.validatingWebhooks[1]", "must not be empty")), // nested join
		fmt.Errorf("wrapped: %w", component.FieldErrorf("wrapped", "kept as it is")),
	)
}

func TestWithinSection(t *testing.T) {
	t.Parallel()
	first, err := joined()
	within := component.WithinSection("ca", err)
	assert.EqualError(t, within, `ca.keyType: "dsa" is not one of ecdsa-p256, rsa-2048`+"\n"+
		"not about a field\n"+
		"ca.patch.validatingWebhooks[1]: must not be empty\n"+
		"wrapped: wrapped: kept as it is")
	assert.Equal(t, "keyType", first.Path, "the original error is not changed")
	assert.Contains(t, err.Error(), "\npatch.validatingWebhooks[1]: must not be empty")

	var fe *component.FieldError
	require.ErrorAs(t, within, &fe)
	assert.Equal(t, "ca.keyType", fe.Path)

	assert.NoError(t, component.WithinSection("ca", nil))
	assert.EqualError(t, component.WithinSection("ca", component.FieldErrorf("", "whole section")), "ca: whole section")
	assert.EqualError(t, component.WithinSection("dns", component.FieldErrorf("[2]", "bad")), "dns[2]: bad")
}

func TestMapFieldErrors(t *testing.T) {
	t.Parallel()
	_, err := joined()
	var seen []string
	mapped := component.MapFieldErrors(err, func(fe *component.FieldError) {
		seen = append(seen, fe.Path)
		fe.Aliases = append(fe.Aliases, "--flag")
	})
	assert.Equal(t, []string{"keyType", "patch.validatingWebhooks[1]"}, seen,
		"every field error of the join, nested joins included; a wrapped one is left alone")
	assert.Contains(t, mapped.Error(), "keyType (--flag): ")
	assert.Contains(t, mapped.Error(), "patch.validatingWebhooks[1] (--flag): must not be empty")
	assert.NotContains(t, err.Error(), "--flag", "the original errors are not changed")

	assert.NoError(t, component.MapFieldErrors(nil, func(*component.FieldError) { t.Fatal("called for nil") }))
	plain := errors.New("plain")
	assert.Same(t, plain, component.MapFieldErrors(plain, func(*component.FieldError) { t.Fatal("called for a plain error") }))
}
