package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/serviceping/serviceping/pkg/cli"
	"github.com/serviceping/serviceping/services/serviceping/internal/dlq"
)

// dlqCmd reads and redrives dead letters.
type dlqCmd struct {
	List    dlqListCmd    `cmd:"" help:"List dead letters, newest last, and count them by consumer and reason."`
	Show    dlqShowCmd    `cmd:"" help:"Show one dead letter: why, where from, its decoded envelope and the original payload."`
	Redrive dlqRedriveCmd `cmd:"" help:"Publish dead letters again on their original subject (after a fix) and remove them from the DLQ."`
}

// dlqSelect is how list and redrive select letters.
type dlqSelect struct {
	pipelineNATS
	Consumer string `placeholder:"NAME" help:"Only letters of this consumer (enricher, loader, crm)."`
	Reason   string `placeholder:"TEXT" help:"Only letters whose reason contains TEXT."`
}

func (s dlqSelect) filter(seqs []uint64) dlq.Filter {
	return dlq.Filter{Consumer: s.Consumer, Reason: s.Reason, Seqs: seqs}
}

type dlqListCmd struct {
	dlqSelect
}

func (c *dlqListCmd) Run(ctx context.Context, e *env) error {
	nc, js, err := connectNATS(ctx, c.NATS, "dlq", e.log)
	if err != nil {
		return err
	}
	defer nc.Close()
	letters, err := dlq.List(ctx, js, c.filter(nil))
	if err != nil {
		return err
	}
	writeLetters(e.stdout, letters)
	return nil
}

// writeLetters prints one line per letter, then the counts by consumer and
// reason.
func writeLetters(w io.Writer, letters []dlq.Letter) {
	if len(letters) == 0 {
		fmt.Fprintln(w, "no dead letters")
		return
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tDEAD-LETTERED\tCONSUMER\tSUBJECT\tDELIVERIES\tREASON")
	counts := map[[2]string]int{}
	for _, l := range letters {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\n", l.Seq, l.Stored.UTC().Format(time.RFC3339), l.GetConsumer(), l.GetSubject(), l.GetDeliveries(), clip(l.GetReason(), 100))
		counts[[2]string{l.GetConsumer(), reasonKind(l.GetReason())}]++
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d dead letters:\n", len(letters))
	tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	for _, k := range slices.SortedFunc(maps.Keys(counts), func(a, b [2]string) int { return strings.Compare(a[0]+a[1], b[0]+b[1]) }) {
		fmt.Fprintf(tw, "  %d\t%s\t%s\n", counts[k], k[0], k[1])
	}
	tw.Flush()
}

// reasonKind is what a reason says before its first detail: the outermost
// step that failed ("decode raw ping", "load ping_metrics", …).
func reasonKind(reason string) string {
	if i := strings.Index(reason, ": "); i > 0 {
		return reason[:i]
	}
	return clip(reason, 60)
}

func clip(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

type dlqShowCmd struct {
	Seq uint64 `arg:"" help:"The letter's DLQ sequence (dlq list shows it)."`
	pipelineNATS
	Payload bool `help:"Print only the original payload, byte for byte (to fix it or send it again)."`
}

func (c *dlqShowCmd) Run(ctx context.Context, e *env) error {
	nc, js, err := connectNATS(ctx, c.NATS, "dlq", e.log)
	if err != nil {
		return err
	}
	defer nc.Close()
	l, err := dlq.Get(ctx, js, c.Seq)
	if err != nil {
		return err
	}
	d, derr := dlq.Decode(l)
	if c.Payload {
		if d.Payload == nil {
			return errors.Join(fmt.Errorf("dead letter %d carries no payload", c.Seq), derr)
		}
		_, err := e.stdout.Write(d.Payload)
		return err
	}
	fmt.Fprintf(e.stdout, "dead letter %d\n  consumer     %s\n  subject      %s (stream sequence %d, message id %q)\n  deliveries   %d\n  failed at    %s\n  reason       %s\n",
		l.Seq, l.GetConsumer(), l.GetSubject(), l.GetStreamSequence(), l.GetMsgId(), l.GetDeliveries(),
		l.GetFailedAt().AsTime().UTC().Format(time.RFC3339Nano), l.GetReason())
	if derr != nil {
		fmt.Fprintf(e.stdout, "\nthe message cannot be decoded: %v\nits first bytes: %q\n", derr, clip(string(l.GetData()), 200))
		return nil
	}
	fmt.Fprintf(e.stdout, "\n%s (payload replaced by its size below)\n%s\n", d.Kind, d.Envelope)
	if d.Payload != nil {
		fmt.Fprintf(e.stdout, "\npayload (%d bytes; --payload prints it alone):\n%s\n", len(d.Payload), clip(string(d.Payload), 4000))
	}
	return nil
}

type dlqRedriveCmd struct {
	Seqs []uint64 `arg:"" optional:"" name:"seq" help:"DLQ sequences to redrive; none: every letter the flags select."`
	dlqSelect
	All    bool `help:"Redrive every letter (required when no sequence, --consumer or --reason selects them)."`
	DryRun bool `help:"List what would be redriven without publishing."`
}

func (c *dlqRedriveCmd) Run(ctx context.Context, e *env) error {
	if len(c.Seqs) == 0 && c.Consumer == "" && c.Reason == "" && !c.All {
		return cli.Usage(errors.New("say which letters to redrive: sequences, --consumer, --reason, or --all"))
	}
	nc, js, err := connectNATS(ctx, c.NATS, "dlq", e.log)
	if err != nil {
		return err
	}
	defer nc.Close()
	letters, err := dlq.List(ctx, js, c.filter(c.Seqs))
	if err != nil {
		return err
	}
	if len(c.Seqs) > 0 && len(letters) != len(c.Seqs) {
		return fmt.Errorf("found %d of the %d dead letters asked for (dlq list shows what is there); nothing redriven", len(letters), len(c.Seqs))
	}
	if c.DryRun {
		fmt.Fprintf(e.stdout, "would redrive %d dead letters:\n", len(letters))
		writeLetters(e.stdout, letters)
		return nil
	}
	n, err := dlq.Redrive(ctx, js, letters)
	fmt.Fprintf(e.stdout, "redrove %d of %d dead letters\n", n, len(letters))
	return err
}
