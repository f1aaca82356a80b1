//go:build !unix

package oidctest

import "os/exec"

// ownGroup does nothing where process groups are not available.
func ownGroup(*exec.Cmd) {}

// killGroup kills cmd's process.
func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
}

// lockFile does not lock: without file locks, test binaries that start at
// once may both run npm ci.
func lockFile(string) (func(), error) { return func() {}, nil }
