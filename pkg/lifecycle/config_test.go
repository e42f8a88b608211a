package lifecycle_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/serviceping/serviceping/pkg/lifecycle"
)

type testConfig struct {
	Listen string        `env:"TEST_LISTEN, default=127.0.0.1:1"`
	Wait   time.Duration `env:"TEST_WAIT, default=2s"`
	Name   string        `env:"TEST_NAME"`
}

func (c testConfig) Validate() error {
	if c.Wait <= 0 {
		return errors.New("TEST_WAIT must be positive")
	}
	return nil
}

func TestReadConfig(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	def, err := lifecycle.Defaults[testConfig]()
	if err != nil || def != (testConfig{Listen: "127.0.0.1:1", Wait: 2 * time.Second}) {
		t.Fatalf("Defaults = %+v, %v", def, err)
	}
	got, err := lifecycle.ReadConfig[testConfig](ctx, envconfig.MapLookuper(map[string]string{"TEST_NAME": "n", "TEST_WAIT": "3s"}))
	if err != nil || got != (testConfig{Listen: "127.0.0.1:1", Wait: 3 * time.Second, Name: "n"}) {
		t.Errorf("ReadConfig = %+v, %v", got, err)
	}
	if _, err := lifecycle.ReadConfig[testConfig](ctx, envconfig.MapLookuper(map[string]string{"TEST_WAIT": "0s"})); err == nil || !strings.Contains(err.Error(), "TEST_WAIT must be positive") {
		t.Errorf("invalid configuration: %v", err)
	}
	if _, err := lifecycle.ReadConfig[testConfig](ctx, envconfig.MapLookuper(map[string]string{"TEST_WAIT": "soon"})); err == nil || !strings.Contains(err.Error(), `"soon"`) {
		t.Errorf("unreadable variable: %v", err)
	}
}
