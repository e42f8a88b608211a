package main

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/serviceping/serviceping/pkg/chtest"
	"github.com/serviceping/serviceping/pkg/cli/clitest"
	"github.com/serviceping/serviceping/pkg/ping"
	"github.com/serviceping/serviceping/pkg/pinggen"
	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/pkg/testinfra"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
	"github.com/serviceping/serviceping/services/serviceping/internal/dlq"
	"github.com/serviceping/serviceping/services/serviceping/internal/pipelinetest"
)

// TestMain lets the test binary serve as the embedded engine's process.
func TestMain(m *testing.M) { pipelinetest.Main(m) }

// TestDLQCommands: on a running pipeline, a poisoned message the enricher
// dead-letters and a valid ping a consumer gave up on are listed, shown
// (decoded envelope, original payload byte for byte) and redriven: the valid
// ping lands in the warehouse and leaves the DLQ, the poison comes back.
func TestDLQCommands(t *testing.T) {
	p := pipelinetest.Start(t, nil)
	bin := clitest.Build(t)
	ctx := context.Background()
	js, err := p.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, streams.SubjectRaw, []byte("not a raw ping"), jetstream.WithMsgID("poison-1")); err != nil {
		t.Fatal(err)
	}
	g, err := pinggen.New()
	if err != nil {
		t.Fatal(err)
	}
	spec := pinggen.Spec{Instance: 4242, Week: 0}
	body := g.JSON(spec)
	inst := pinggen.InstanceOf(spec.Instance)
	recordedAt := pinggen.RecordedAt(spec.Week, spec.Instance)
	id := ping.ID(inst.UUID, recordedAt)
	udi, err := ping.UsageDataID(id)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := proto.Marshal(&servicepingv1.RawPing{PingId: id, UsageDataId: udi, Uuid: inst.UUID, RecordedAt: recordedAt,
		ReceivedAt: timestamppb.Now(), Payload: body, Source: "api"})
	if err != nil {
		t.Fatal(err)
	}
	letter, err := proto.Marshal(&servicepingv1.DeadLetter{Consumer: streams.ConsumerEnricher, Subject: streams.SubjectRaw, StreamSequence: 999,
		Reason: "enrich: gave up after 5 deliveries: directory unavailable", FailedAt: timestamppb.Now(), Data: raw, MsgId: id, Deliveries: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, streams.SubjectDLQ(streams.ConsumerEnricher), letter, jetstream.WithMsgID("test-letter")); err != nil {
		t.Fatal(err)
	}
	var poison, valid uint64
	testinfra.Eventually(t, time.Minute, "two dead letters", func() error {
		ls, err := dlq.List(ctx, js, dlq.Filter{})
		if err != nil || len(ls) != 2 {
			return fmt.Errorf("%d letters, %v", len(ls), err)
		}
		for _, l := range ls {
			if l.GetMsgId() == id {
				valid = l.Seq
			} else {
				poison = l.Seq
			}
		}
		return nil
	})

	run := func(code int, args ...string) string {
		t.Helper()
		r := clitest.Run(t, bin, nil, append(args, "--nats", p.NATSURL)...)
		if r.Code != code {
			t.Fatalf("%q: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, r.Code, code, r.Stdout, r.Stderr)
		}
		return r.Stdout
	}
	seq := func(n uint64) string { return strconv.FormatUint(n, 10) }
	out := run(0, "dlq", "list")
	for _, want := range []string{"2 dead letters:", "directory unavailable", "  1  enricher  enrich\n", "decode"} {
		if !strings.Contains(out, want) {
			t.Errorf("dlq list lacks %q:\n%s", want, out)
		}
	}
	if out := run(0, "dlq", "list", "--reason", "gave up"); !strings.Contains(out, "1 dead letters:") {
		t.Errorf("dlq list --reason:\n%s", out)
	}
	out = run(0, "dlq", "show", seq(valid))
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^  consumer +enricher$`), regexp.MustCompile(`(?m)^RawPing `),
		regexp.MustCompile(`"pingId": "` + id + `"`), regexp.MustCompile(`payload \(` + strconv.Itoa(len(body)) + ` bytes`),
	} {
		if !want.MatchString(out) {
			t.Errorf("dlq show lacks %s:\n%.2000s", want, out)
		}
	}
	if out := run(0, "dlq", "show", seq(valid), "--payload"); out != string(body) {
		t.Errorf("dlq show --payload printed %d bytes, want the %d of the payload", len(out), len(body))
	}
	if out := run(0, "dlq", "show", seq(poison)); !strings.Contains(out, "cannot be decoded") {
		t.Errorf("dlq show of the poison:\n%s", out)
	}
	run(2, "dlq", "redrive")

	if out := run(0, "dlq", "redrive", "--reason", "gave up"); out != "redrove 1 of 1 dead letters\n" {
		t.Errorf("redrive: %q", out)
	}
	conn := pipelinetest.Conn(t, p)
	chtest.WaitCount(t, conn, time.Minute, 1, "SELECT count() FROM serviceping.pings FINAL WHERE ping_id = ?", id) // the redriven ping
	if r := clitest.Run(t, bin, nil, "dlq", "redrive", seq(valid), "--nats", p.NATSURL); r.Code != 1 || !strings.Contains(r.Stderr, "found 0 of the 1") {
		t.Errorf("redriving a letter twice: exit %d, stderr %q", r.Code, r.Stderr)
	}

	// The poison goes round again: redriven, then dead-lettered anew.
	run(0, "dlq", "redrive", seq(poison))
	testinfra.Eventually(t, time.Minute, "the poison dead-lettered again", func() error {
		ls, err := dlq.List(ctx, js, dlq.Filter{})
		if err != nil || len(ls) != 1 || ls[0].Seq == poison || ls[0].GetConsumer() != streams.ConsumerEnricher {
			return fmt.Errorf("letters %v, %v", ls, err)
		}
		return nil
	})
}
