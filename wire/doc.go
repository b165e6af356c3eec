// Package wire is the pure frame codec of Spindle: the frame header, message
// kinds and flags, key/value headers, the handshake (Hello) body, the
// actor-message Envelope body, the DeadReply body, a msgpack payload codec
// with a type Registry, typed errors, and a buffered frame Reader.
//
// The package starts no goroutines and does no IO of its own beyond the
// io.Reader given to [NewReader]. Every parser checks each length before
// slicing and returns an error, never a panic, on hostile input. The byte
// layout is described in docs/protocol.md and in the doc comments of
// [Header], [Hello], [Envelope] and [DeadReply].
//
// A frame is a 24-byte [Header], a key/value block of Header.KVLen bytes
// and a body of Header.BodyLen bytes. Routers look at the header only
// ([Header.Dst], [Header.SetDst]) and forward the raw frame; bodies are
// decoded only at the destination.
//
// # Usage
//
// Register message types once, at setup, in every context that sends or
// receives them:
//
//	reg := wire.NewRegistry()
//	wire.MustRegister[Greeting](reg, "example.Greeting")
//
// Sending a user message: write the envelope head and encode the payload
// straight into the output buffer, then patch the lengths.
//
//	name, err := reg.TypeName(msg) // ErrUnregistered: nothing is sent
//	buf, start := wire.BeginFrame(buf, wire.FrameSpec{Kind: wire.KindUser, Dst: 7, Src: 1, Auth: 1})
//	buf = wire.AppendEnvelopeHead(buf, wire.Envelope{Target: "worker", Type: name})
//	_, buf, err = reg.AppendEncode(buf, msg)
//	err = wire.FinishFrame(buf, start, 0)
//
// Receiving: one goroutine owns a [Reader] per link.
//
//	r := wire.NewReader(conn, 0)
//	for {
//		f, err := r.ReadFrame() // io.EOF at a clean end
//		...
//		env, err := wire.ParseEnvelope(f.Body())
//		msg, err := reg.Decode(env.Type, env.Payload)
//	}
//
// The caller's duties:
//
//   - Exchange [Hello] frames first: the parent sends one with AssignedID
//     and ParentIDs, the child answers with its own. On a [*VersionError]
//     from the first ReadFrame, send [AppendVersionReject] and close.
//     Afterwards both sides call [Reader.SetMaxFrame] with the smaller
//     MaxFrame and keep outgoing frames within it ([CheckLen]).
//   - Treat any ReadFrame error as fatal for the link: framing is lost.
//   - Copy what must outlive the next ReadFrame: a [Frame] aliases the
//     Reader's buffer, and so does Envelope.Payload.
//
// Concurrency: [Registry] is safe for concurrent use; a [Reader] belongs to
// one goroutine; everything else is a pure function or an immutable value.
package wire
