package grpc

import (
	"context"
	"sync"

	gogrpc "google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
)

// requestCodec makes a request that is not a valid message fail with
// INVALID_ARGUMENT, the caller's fault, where gRPC answers INTERNAL for
// any error of the codec. gRPC decodes a unary request before any
// interceptor runs and wraps the decoding error itself, so the codec
// keeps the error beside the message it could not fill and reports
// success; the interceptors, which every RPC passes through before its
// handler sees the message, then refuse the RPC with that error. The
// codec and its interceptors exist only together (see NewServer).
type requestCodec struct {
	encoding.CodecV2
	bad sync.Map // message (pointer) -> its decoding error
}

func newRequestCodec() *requestCodec {
	return &requestCodec{CodecV2: encoding.GetCodecV2(proto.Name)}
}

func (c *requestCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if err := c.CodecV2.Unmarshal(data, v); err != nil {
		c.bad.Store(v, err)
	}
	return nil
}

// refused is the error for req if it could not be decoded, once.
func (c *requestCodec) refused(req any) error {
	if err, ok := c.bad.LoadAndDelete(req); ok {
		return status.Errorf(codes.InvalidArgument, "the request is not a valid message: %v", err)
	}
	return nil
}

func (c *requestCodec) unary(ctx context.Context, req any, _ *gogrpc.UnaryServerInfo, next gogrpc.UnaryHandler) (any, error) {
	if err := c.refused(req); err != nil {
		return nil, err
	}
	return next(ctx, req)
}

func (c *requestCodec) stream(srv any, ss gogrpc.ServerStream, _ *gogrpc.StreamServerInfo, next gogrpc.StreamHandler) error {
	return next(srv, &decodedStream{ServerStream: ss, c: c})
}

type decodedStream struct {
	gogrpc.ServerStream
	c *requestCodec
}

func (s *decodedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		s.c.bad.Delete(m)
		return err
	}
	return s.c.refused(m)
}
