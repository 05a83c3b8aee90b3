package sshexec

import (
	"os"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// knownHostsCache keeps the last parsed known_hosts file: every connection
// and every job start (the fingerprints its audit event names, per host)
// checks it, and parsing a file of a thousand hosts takes milliseconds.
// It is parsed again when its size or modification time changes, so an
// edit still takes effect without a restart.
type knownHostsCache struct {
	mu    sync.Mutex
	path  string
	size  int64
	mtime time.Time
	cb    ssh.HostKeyCallback
}

// load returns the callback of the file at path, as knownhosts.New does.
func (c *knownHostsCache) load(path string) (ssh.HostKeyCallback, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return knownhosts.New(path) // its error, as before
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cb != nil && c.path == path && c.size == fi.Size() && c.mtime.Equal(fi.ModTime()) {
		return c.cb, nil
	}
	cb, err := knownhosts.New(path)
	if err != nil {
		return nil, err
	}
	// The callback only reads what was parsed: safe to share.
	c.path, c.size, c.mtime, c.cb = path, fi.Size(), fi.ModTime(), cb
	return cb, nil
}
