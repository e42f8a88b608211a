// Package tracing follows a ping through the pipeline with OpenTelemetry:
// the gateway's request span, the enricher's span and the loader's batch
// span share one trace, carried from stage to stage in the NATS message
// headers as W3C trace context (traceparent, tracestate). Spans are
// exported over OTLP/HTTP when the standard OpenTelemetry variables ask
// for it — OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
// with OTEL_EXPORTER_OTLP_HEADERS, OTEL_BSP_*, … read by the exporter and
// the SDK themselves — and cost nothing otherwise. No global provider is
// set: each stage gets its TracerProvider injected.
package tracing

import (
	"context"
	"fmt"
	"os"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Enabled reports whether the environment asks for spans to be exported.
func Enabled() bool {
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// NewProvider returns the tracer provider of service: exporting over
// OTLP/HTTP when Enabled, else a no-op one. shutdown flushes the spans
// not exported yet; call it when the service stops.
func NewProvider(ctx context.Context, service string) (tp trace.TracerProvider, shutdown func(context.Context) error, err error) {
	if !Enabled() {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(service)))
	if err != nil {
		return nil, nil, fmt.Errorf("trace resource: %w", err)
	}
	p := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return p, p.Shutdown, nil
}

// OrNoop is tp, or a no-op provider when tp is nil (a stage's Deps left
// empty).
func OrNoop(tp trace.TracerProvider) trace.TracerProvider {
	if tp == nil {
		return noop.NewTracerProvider()
	}
	return tp
}

// propagator is W3C trace context.
var propagator = propagation.TraceContext{}

// header adapts nats.Header to the propagator.
type header nats.Header

func (h header) Get(key string) string { return nats.Header(h).Get(key) }
func (h header) Set(key, value string) { nats.Header(h).Set(key, value) }
func (h header) Keys() []string {
	out := make([]string, 0, len(h))
	for k := range h {
		out = append(out, k)
	}
	return out
}

// Inject writes the trace context of ctx into h (nothing when ctx carries
// no span).
func Inject(ctx context.Context, h nats.Header) {
	propagator.Inject(ctx, header(h))
}

// Extract returns ctx with the remote span context of h, if any.
func Extract(ctx context.Context, h nats.Header) context.Context {
	if h == nil {
		return ctx
	}
	return propagator.Extract(ctx, header(h))
}
