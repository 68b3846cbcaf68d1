package grpc_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	gogrpc "google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/bootgraph/bootgraph/internal/testutil"
	grpcmod "github.com/bootgraph/bootgraph/modules/grpc"
)

// rawCodec sends bytes as they are and reads answers as bytes: a client
// that can send what is not a valid message.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }
func (rawCodec) Marshal(v any) ([]byte, error) {
	if b, ok := v.(*[]byte); ok {
		return *b, nil
	}
	return proto.Marshal(v.(proto.Message))
}
func (rawCodec) Unmarshal(data []byte, v any) error {
	if b, ok := v.(*[]byte); ok {
		*b = append((*b)[:0], data...)
		return nil
	}
	return proto.Unmarshal(data, v.(proto.Message))
}

// A request that is not a valid message is the caller's fault: unary and
// streaming RPCs answer INVALID_ARGUMENT (gRPC's own answer is INTERNAL),
// no handler sees it, and a valid request on the same connection is served.
func TestMalformedRequestIsInvalidArgument(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	s, _ := startServer(t, grpcmod.Options{}, testutil.NewBundle(t, c), nil, echoService())
	conn := dial(t, s.Addr(), c.Roots(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for name, bad := range map[string][]byte{
		"truncated varint":    {0x08, 0xff},
		"field number zero":   {0x00, 0x01},
		"string not UTF-8":    {0x0a, 0x02, 0xff, 0xfe},
		"length past the end": {0x0a, 0x10, 'x'},
	} {
		var out []byte
		err := conn.Invoke(ctx, "/bootgraph.test.Echo/Echo", &bad, &out, gogrpc.ForceCodec(rawCodec{}))
		require.Error(t, err, name)
		assert.Equal(t, codes.InvalidArgument, status.Code(err), "%s: %v", name, err)
		assert.Contains(t, status.Convert(err).Message(), "the request is not a valid message", name)

		// A server stream reads its request through RecvMsg.
		desc := &gogrpc.StreamDesc{ServerStreams: true}
		st, err := conn.NewStream(ctx, desc, "/grpc.health.v1.Health/Watch", gogrpc.ForceCodec(rawCodec{}))
		require.NoError(t, err)
		require.NoError(t, st.SendMsg(&bad))
		require.NoError(t, st.CloseSend())
		err = st.RecvMsg(&out)
		assert.Equal(t, codes.InvalidArgument, status.Code(err), "%s (stream): %v", name, err)
	}

	var got wrapperspb.StringValue
	require.NoError(t, conn.Invoke(ctx, "/bootgraph.test.Echo/Echo", wrapperspb.String("hi"), &got))
	assert.Equal(t, "hi", got.GetValue())
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err, fmt.Sprint(resp))
}
