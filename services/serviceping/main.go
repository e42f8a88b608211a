// Command serviceping is the all-in-one receiving pipeline and the
// operator/analyst CLI:
//
//	serviceping run      gateway + enricher + loader on embedded NATS
//	serviceping send     post a payload file to a gateway
//	serviceping loadgen  post generated full-size pings, bounded, and report rates
//	serviceping query    run SQL against the warehouse (CLICKHOUSE_URL) and print a table
//	serviceping warehouse  the embedded ClickHouse engine behind its HTTP endpoint
//	serviceping reenrich   re-enrich the pings whose lookups failed (--since DATE)
//	serviceping replay     run the raw pings kept in the stream through the pipeline again
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/serviceping/serviceping/pkg/service"
)

// command is one subcommand.
type command struct {
	name, summary string
	run           func(ctx context.Context, env *env, args []string) error
}

// env is what a command gets from the process.
type env struct {
	stdout, stderr io.Writer
	log            *slog.Logger
	getenv         func(string) string
}

func commands() []command {
	return []command{
		{"run", "run gateway, enricher and loader in one process on embedded defaults", runCmd},
		{"send", "post a payload file (JSON or gzip) to a gateway", sendCmd},
		{"loadgen", "post generated full-size pings to a gateway and report rates", loadgenCmd},
		{"query", "run SQL against the warehouse and print the result", queryCmd},
		{"reenrich", "send pings whose enrichment failed through the enricher again", reenrichCmd},
		{"replay", "send the raw pings kept in the stream through the pipeline again", replayCmd},
		{"warehouse", "serve the embedded ClickHouse engine over the ClickHouse HTTP protocol", warehouseCmd},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	format := os.Getenv("LOG_FORMAT")
	if format == "" {
		format = "text" // a person reads this CLI's logs
	}
	log, err := service.NewLogger(os.Stderr, os.Getenv("LOG_LEVEL"), format)
	if err != nil {
		fmt.Fprintln(os.Stderr, "serviceping:", err)
		os.Exit(2)
	}
	e := &env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, log: log}
	if err := dispatch(ctx, e, os.Args[1:]); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "serviceping:", err)
		}
		os.Exit(2)
	}
}

func dispatch(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.stderr)
		if len(args) == 0 {
			return errors.New("a command is required")
		}
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, e, args[1:])
		}
	}
	usage(e.stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: serviceping <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nrun 'serviceping <command> -h' for a command's flags")
}

// envOr is the environment variable name's value, or def.
func (e *env) envOr(name, def string) string {
	if v := e.getenv(name); v != "" {
		return v
	}
	return def
}

func newFlagSet(e *env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet("serviceping "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: serviceping %s %s\n\nflags:\n", name, usage)
		fs.PrintDefaults()
	}
	return fs
}
