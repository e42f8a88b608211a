// Command serviceping is the all-in-one receiving pipeline and the
// operator/analyst CLI:
//
//	serviceping run        gateway + enricher + loader on embedded NATS, and the dashboard
//	serviceping ui         the built-in dashboard over the warehouse's marts
//	serviceping send       post payload files to a gateway
//	serviceping loadgen    post generated full-size pings, bounded, and report rates
//	serviceping bench      the pipeline against the HTTP and JetStream ceilings, one table
//	serviceping query      run SQL against the warehouse (CLICKHOUSE_URL) and print a table
//	serviceping warehouse  the embedded ClickHouse engine behind its HTTP endpoint
//	serviceping run-cluster  the distributed topology as local processes
//	serviceping lake compact  rewrite a lake day without duplicates
//	serviceping dlq        list, show and redrive dead letters
//	serviceping migrate    apply the warehouse's schema migrations (once per deployment)
//	serviceping reenrich   re-enrich the pings whose lookups failed (--since DATE)
//	serviceping replay     run the raw pings kept in the stream through the pipeline again
//
// Flags and arguments go in any order; `serviceping COMMAND --help` lists a
// command's flags and the variables mirroring them.
package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/alecthomas/kong"

	"github.com/serviceping/serviceping/pkg/cli"
	"github.com/serviceping/serviceping/services/serviceping/internal/warehouse"
)

func main() {
	warehouse.RunIfChild() // the embedded engine's process of `serviceping run`
	vars, err := runVars()
	if err != nil {
		fmt.Fprintln(os.Stderr, "serviceping:", err)
		os.Exit(cli.ExitFailure)
	}
	os.Exit(cli.Main(cli.App{
		Name:        "serviceping",
		Description: "GitLab's Service Ping pipeline: the all-in-one receiving side (run) and the operator and analyst commands.",
		LogFormat:   "text", // a person reads this CLI's logs
		Vars:        vars,
	}, &commands{}))
}

// commands is serviceping's command line.
type commands struct {
	cli.Logging
	Run        runCmd        `cmd:"" help:"Run gateway, enricher and loader in one process on embedded defaults, with the dashboard."`
	UI         uiCmd         `cmd:"" name:"ui" help:"Serve the built-in dashboard over the marts of CLICKHOUSE_URL's warehouse."`
	Send       sendCmd       `cmd:"" help:"Post payload files (JSON or gzip) to a gateway like an instance does."`
	Loadgen    loadgenCmd    `cmd:"" help:"Post generated full-size pings to a gateway and report rates; exits 1 when any was not accepted."`
	Bench      benchCmd      `cmd:"" help:"Measure the HTTP and JetStream ceilings, the standalone gateway and the all-in-one on generated full-size pings; print a markdown table (make bench-pipeline)."`
	Query      queryCmd      `cmd:"" help:"Run SQL against the warehouse and print the result."`
	Reenrich   reenrichCmd   `cmd:"" help:"Send the pings whose enrichment failed through the enricher again."`
	Replay     replayCmd     `cmd:"" help:"Send the raw pings kept in the stream through the pipeline again."`
	Warehouse  warehouseCmd  `cmd:"" help:"Serve the embedded ClickHouse engine over the ClickHouse HTTP protocol."`
	RunCluster runClusterCmd `cmd:"" name:"run-cluster" help:"Run the distributed topology as local processes: 3 NATS nodes, the embedded ClickHouse endpoint, 2 of each stage (make run-cluster)."`
	Lake       lakeCmd       `cmd:"" help:"Work on the Parquet lake (compact a day)."`
	DLQ        dlqCmd        `cmd:"" name:"dlq" help:"Read dead letters and send them through the pipeline again (list, show, redrive)."`
	Migrate    migrateCmd    `cmd:"" help:"Apply the warehouse's schema migrations, holding its migration lock (the loader does it at start unless LOADER_MIGRATE=false)."`
}

// env is what a command gets from the process.
type env struct {
	stdout, stderr io.Writer
	log            *slog.Logger
}

// ProvideEnv gives the commands' Run methods their env.
func (c *commands) ProvideEnv(kctx *kong.Context) (*env, error) {
	log, err := c.ProvideLogger(kctx)
	if err != nil {
		return nil, err
	}
	return &env{stdout: kctx.Stdout, stderr: kctx.Stderr, log: log}, nil
}

// pipelineNATS is the NATS server of a running pipeline, for the commands
// that work on one.
type pipelineNATS struct {
	NATS string `name:"nats" env:"NATS_URL" default:"nats://127.0.0.1:4223" help:"NATS server of the pipeline; the default is the all-in-one's."`
}

// warehouseURL is the warehouse a command reads.
type warehouseURL struct {
	ClickHouse string `name:"clickhouse" env:"CLICKHOUSE_URL" default:"http://127.0.0.1:8123/serviceping" placeholder:"URL" help:"Warehouse URL; the default is the all-in-one's embedded endpoint."`
}

// gatewayURL is the gateway a command posts to.
type gatewayURL struct {
	Gateway string `name:"gateway" env:"GATEWAY_URL" default:"http://127.0.0.1:8080" placeholder:"URL" help:"Gateway base URL."`
}
