package ssh

// The bootstrap's uploads, and the binaries a context started with this
// method fetches as a hop, are compressed (zstd, gzip): see spawn/compress.
import _ "github.com/spindle-go/spindle/spawn/compress"
