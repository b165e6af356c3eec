package actors

// Annotation is what a context knows of one of its descendants that the
// descendant cannot tell of itself: how it was started and how often its
// supervisor restarted it. Spawn methods record the method when they join
// a child; a supervisor records the restarts of each new incarnation.
// Introspection (actors/introspect) reports it in the descendant's row,
// over the descendant's own word.
type Annotation struct {
	// Method names how the context was started: "local", "ssh",
	// "docker", "sudo", "kube", ... (runner.Info.Method); "" unknown.
	Method string
	// Restarts counts the restarts of its supervisor's child before this
	// context (a restarted context has a new ID); 0 for a first start.
	Restarts int
}

// maxMethod bounds Annotation.Method.
const maxMethod = 64

// Annotate merges a into what this node records of descendant id: each
// non-zero field of a replaces the recorded one. It reports false, and
// records nothing, when id is not a live descendant of this node. The
// record is dropped when id goes down. Annotate is safe for concurrent
// use.
func (n *Node) Annotate(id uint32, a Annotation) bool {
	if len(a.Method) > maxMethod {
		a.Method = a.Method[:maxMethod]
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed || !n.rt.Below(id) {
		return false
	}
	if n.notes == nil {
		n.notes = make(map[uint32]Annotation)
	}
	old := n.notes[id]
	if a.Method != "" {
		old.Method = a.Method
	}
	if a.Restarts > 0 {
		old.Restarts = a.Restarts
	}
	n.notes[id] = old
	return true
}

// AnnotationOf returns what this node records of descendant id (see
// Annotate); ok is false when it records nothing.
func (n *Node) AnnotationOf(id uint32) (a Annotation, ok bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	a, ok = n.notes[id]
	return a, ok
}
