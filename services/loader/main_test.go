package main

import (
	"testing"

	"github.com/serviceping/serviceping/pkg/cli/clitest"
)

// TestCommandLine runs the built binary: --help, --version and usage
// errors answer at once and start nothing (NATS_URL points at a closed
// port, so a started loader would wait for it).
func TestCommandLine(t *testing.T) {
	clitest.Check(t, clitest.Build(t), clitest.Service("loader", "LOADER_BATCH_MAX_PINGS"))
}
