package introspect

import (
	"bytes"
	"errors"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/spindle-go/spindle/actors"
)

// query is the body of a TREE_QUERY.
type query struct {
	ID       uint64 `msgpack:"i"`
	BudgetMS uint32 `msgpack:"b"` // how long the asked context may take to answer
	MaxRows  uint32 `msgpack:"r"` // the most rows its answer may hold
}

// reply is the body of a TREE_REPLY: the subtree as flat rows in pre-order
// (each row after its parent), so that decoding never recurses.
type reply struct {
	ID   uint64 `msgpack:"i"`
	Rows []row  `msgpack:"r"`
}

// row is one context on the wire.
type row struct {
	ID       uint32    `msgpack:"i"`
	Parent   uint32    `msgpack:"p"`
	Name     string    `msgpack:"n"`
	Inc      string    `msgpack:"c"`
	Host     string    `msgpack:"h"`
	User     string    `msgpack:"u"`
	PID      int       `msgpack:"d"`
	UptimeMS int64     `msgpack:"t"`
	State    State     `msgpack:"s"`
	Err      string    `msgpack:"e"`
	Dropped  int       `msgpack:"x"`
	Links    []linkRow `msgpack:"l"`
	Method   string    `msgpack:"m"`  // an ancestor's word (actors.Annotation)
	Restarts int       `msgpack:"rs"` // likewise
}

// linkRow is one actors.LinkStats on the wire.
type linkRow struct {
	Peer       uint32 `msgpack:"p"`
	Name       string `msgpack:"n"`
	IsParent   bool   `msgpack:"up"`
	FramesIn   uint64 `msgpack:"fi"`
	BytesIn    uint64 `msgpack:"bi"`
	FramesOut  uint64 `msgpack:"fo"`
	BytesOut   uint64 `msgpack:"bo"`
	QueueBytes uint64 `msgpack:"q"`
	QueueHigh  uint64 `msgpack:"qh"`
	RTTNs      int64  `msgpack:"r"`
	SRTTNs     int64  `msgpack:"sr"`
	DeadIn     uint64 `msgpack:"di"`
	DeadOut    uint64 `msgpack:"do"`
	Dropped    uint64 `msgpack:"x"`
	Chunks     int64  `msgpack:"ch"`
}

func linkRowOf(s actors.LinkStats) linkRow {
	return linkRow{Peer: s.Peer, Name: s.Name, IsParent: s.IsParent, FramesIn: s.FramesIn, BytesIn: s.BytesIn,
		FramesOut: s.FramesOut, BytesOut: s.BytesOut, QueueBytes: s.QueueBytes, QueueHigh: s.QueueHigh,
		RTTNs: int64(s.RTT), SRTTNs: int64(s.RTTSmoothed), DeadIn: s.DeadIn, DeadOut: s.DeadOut,
		Dropped: s.Dropped, Chunks: s.ChunksInFlight}
}

func (r linkRow) stats() actors.LinkStats {
	return actors.LinkStats{Peer: r.Peer, Name: r.Name, IsParent: r.IsParent, FramesIn: r.FramesIn, BytesIn: r.BytesIn,
		FramesOut: r.FramesOut, BytesOut: r.BytesOut, QueueBytes: r.QueueBytes, QueueHigh: r.QueueHigh,
		RTT: time.Duration(r.RTTNs), RTTSmoothed: time.Duration(r.SRTTNs), DeadIn: r.DeadIn, DeadOut: r.DeadOut,
		Dropped: r.Dropped, ChunksInFlight: r.Chunks}
}

func (r *row) context() *Context {
	c := &Context{ID: r.ID, Parent: r.Parent, Name: r.Name, Incarnation: r.Inc, Host: r.Host, User: r.User,
		PID: r.PID, Uptime: time.Duration(r.UptimeMS) * time.Millisecond, State: r.State, Err: r.Err,
		Dropped: r.Dropped, Method: r.Method, Restarts: r.Restarts}
	for _, l := range r.Links {
		c.Links = append(c.Links, l.stats())
	}
	return c
}

func encode(v any) []byte {
	b, err := msgpack.Marshal(v)
	if err != nil {
		panic("introspect: encode: " + err.Error()) // our own plain structs always encode
	}
	return b
}

// decodeReply decodes a TREE_REPLY body of at most MaxReplyBytes. The
// decoder allocates each array's claimed length up front (up to a million
// elements: 200 MB of rows for an 11-byte body), so the body is walked
// first: no array longer than MaxRows and no more than maxElems array
// elements in all (arrays are what the decoder allocates ahead), no map of
// more than maxMapLen entries, nesting at most maxDepth, and every element
// present in the body.
func decodeReply(b []byte) (reply, error) {
	var r reply
	elems := maxElems
	d := msgpack.NewDecoder(bytes.NewReader(b))
	if err := walk(d, &elems, 0); err != nil {
		return r, err
	}
	err := msgpack.Unmarshal(b, &r)
	return r, err
}

// Bounds of the walk of a reply body.
const (
	maxElems  = 4 * MaxRows // array elements in one reply: rows and their links
	maxMapLen = 64          // entries of one map (a row has 14)
	maxDepth  = 6           // reply > rows > row > links > link > value
)

var errShape = errors.New("introspect: reply over the bounds of its shape")

// walk reads one msgpack value from d, counting array and map elements
// against *elems.
func walk(d *msgpack.Decoder, elems *int, depth int) error {
	if depth > maxDepth {
		return errShape
	}
	c, err := d.PeekCode()
	if err != nil {
		return err
	}
	var n, values int
	switch {
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		if n, err = d.DecodeArrayLen(); err == nil && (n > MaxRows || n > *elems) {
			err = errShape
		}
		*elems -= n
		values = n
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		if n, err = d.DecodeMapLen(); err == nil && n > maxMapLen {
			err = errShape
		}
		values = 2 * n
	default:
		return d.Skip()
	}
	if err != nil {
		return err
	}
	for range values {
		if err := walk(d, elems, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// cut returns s cut to MaxString bytes.
func cut(s string) string {
	if len(s) > MaxString {
		return s[:MaxString]
	}
	return s
}

// knownState reports whether s is a state this version sends.
func knownState(s State) bool {
	switch s {
	case StateUp, StateTimeout, StateUnreachable, StateInvalid:
		return true
	}
	return false
}

// check returns the rows of the answer of the child that stub names that
// keep the rules, with the child's row first (its parent set to
// stub.Parent): at most limit rows, each
// (but the first) a context that behind(id) says lives behind child's
// link, not seen before, whose parent was seen before; strings cut,
// states known, links bounded. Rows that break them are counted in the
// first row's Dropped. An answer whose first row is not the child gives
// stub in StateInvalid.
func check(stub row, rows []row, limit int, behind func(id uint32) bool) []row {
	child, parent := stub.ID, stub.Parent
	if len(rows) == 0 || rows[0].ID != child {
		stub.State, stub.Err = StateInvalid, "answer does not start with the child asked"
		return []row{sanitize(stub)}
	}
	seen := map[uint32]bool{child: true}
	out := make([]row, 0, min(len(rows), limit))
	dropped := 0
	for i, r := range rows {
		switch {
		case len(out) >= limit:
			dropped++
			continue
		case i == 0:
			r.Parent = parent
		case seen[r.ID] || !seen[r.Parent] || !behind(r.ID):
			dropped++
			continue
		}
		seen[r.ID] = true
		out = append(out, sanitize(r))
	}
	out[0].Dropped += dropped
	return out
}

// sanitize bounds one row's strings, state and links.
func sanitize(r row) row {
	r.Name, r.Inc, r.Host, r.User, r.Err = cut(r.Name), cut(r.Inc), cut(r.Host), cut(r.User), cut(r.Err)
	r.Method, r.Restarts = cut(r.Method), max(0, r.Restarts)
	if !knownState(r.State) {
		r.State, r.Err = StateInvalid, "unknown state"
	}
	if len(r.Links) > MaxLinks {
		r.Links = r.Links[:MaxLinks]
	}
	for i := range r.Links {
		r.Links[i].Name = cut(r.Links[i].Name)
	}
	r.Dropped = max(0, r.Dropped)
	return r
}
