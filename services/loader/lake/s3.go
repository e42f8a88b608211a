package lake

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/serviceping/serviceping/pkg/tables"
	"github.com/serviceping/serviceping/services/loader/rows"
)

// ContentType of the lake's objects.
const ContentType = "application/vnd.apache.parquet"

// S3 is a lake in an S3 bucket (any S3-compatible store). Each object is
// written with one PutObject, which is atomic: readers see the old object
// or the new one, and a rewritten batch replaces its objects. Write
// returns once the store acknowledged every object. S3 is safe for
// concurrent use.
type S3 struct {
	client *s3.Client
	bucket string
	prefix string // without leading or trailing slash; may be empty
}

// S3Options configure OpenS3.
type S3Options struct {
	// Endpoint overrides the S3 endpoint (S3_ENDPOINT), e.g. a MinIO URL;
	// it switches to path-style addressing.
	Endpoint string
	// Region is used when the standard chain (AWS_REGION, profile) has none;
	// default us-east-1.
	Region string
}

// ParseS3URL splits s3://bucket/prefix.
func ParseS3URL(raw string) (bucket, prefix string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("lake URL: %w", err)
	}
	if u.Scheme != "s3" {
		return "", "", fmt.Errorf("lake URL %q: want s3://bucket/prefix", raw)
	}
	if u.Host == "" {
		return "", "", fmt.Errorf("lake URL %q has no bucket", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", "", fmt.Errorf("lake URL %q: want s3://bucket/prefix without user, query or fragment", raw)
	}
	return u.Host, strings.Trim(u.Path, "/"), nil
}

// OpenS3 opens the lake at rawURL (s3://bucket/prefix) with credentials
// and region from the standard AWS chain (AWS_* variables, shared config,
// instance roles).
func OpenS3(ctx context.Context, rawURL string, opts S3Options) (*S3, error) {
	bucket, prefix, err := ParseS3URL(rawURL)
	if err != nil {
		return nil, err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = cmpOr(opts.Region, "us-east-1")
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
			o.UsePathStyle = true
		}
		// Retries belong to the loader (it rewrites the whole batch with
		// backoff); keep the SDK's own short.
		o.RetryMaxAttempts = 2
	})
	return &S3{client: client, bucket: bucket, prefix: prefix}, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Root is the lake URL (s3://bucket/prefix).
func (s *S3) Root() string { return "s3://" + path.Join(s.bucket, s.prefix) }

// Client is the S3 client in use.
func (s *S3) Client() *s3.Client { return s.client }

// ObjectKey is the object key of a lake key (see Key) under the prefix.
func (s *S3) ObjectKey(key string) string {
	if s.prefix == "" {
		return key
	}
	return s.prefix + "/" + key
}

// Write puts the batch's objects, one per table per dt partition, the
// ping_metrics objects before the pings objects (a ping object implies
// its metrics objects). Rewriting a batch with the same ID replaces them.
func (s *S3) Write(ctx context.Context, b rows.Batch) error {
	if len(b.Records) == 0 {
		return nil
	}
	parts := b.Partitions()
	var buf bytes.Buffer
	for _, table := range []string{tables.Metrics, tables.Pings} {
		for _, p := range parts {
			key := Key(table, p.DT, b.ID)
			buf.Reset()
			var err error
			if table == tables.Pings {
				err = EncodePings(&buf, b.ID, p.Records)
			} else {
				err = EncodeMetrics(&buf, b.ID, p.Records)
			}
			if err != nil {
				return fmt.Errorf("encode lake object %s: %w", key, err)
			}
			if err := s.put(ctx, key, buf.Bytes()); err != nil {
				return err
			}
		}
	}
	return nil
}

// put stores data under the lake key.
func (s *S3) put(ctx context.Context, key string, data []byte) error {
	if _, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(s.ObjectKey(key)),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		ContentType:   aws.String(ContentType),
	}); err != nil {
		return fmt.Errorf("put lake object s3://%s/%s: %w", s.bucket, s.ObjectKey(key), err)
	}
	return nil
}

// get reads the object of a lake key.
func (s *S3) get(ctx context.Context, key string) ([]byte, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.ObjectKey(key))})
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	defer out.Body.Close()
	var data bytes.Buffer
	if _, err := data.ReadFrom(out.Body); err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return data.Bytes(), nil
}

// Check verifies that the bucket is reachable (HeadBucket).
func (s *S3) Check(ctx context.Context) error {
	if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.bucket)}); err != nil {
		return fmt.Errorf("check lake bucket %s: %w", s.bucket, err)
	}
	return nil
}

// ReadS3 reads every Parquet object of the lake back, like ReadDir.
func ReadS3(ctx context.Context, s *S3) (pings []rows.Ping, metrics []rows.Metric, err error) {
	keys, err := s.Keys(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, k := range keys {
		data, err := s.get(ctx, k)
		if err != nil {
			return nil, nil, err
		}
		switch {
		case strings.HasPrefix(k, tables.Pings+"/"):
			err = decodeInto(data, &pings)
		case strings.HasPrefix(k, tables.Metrics+"/"):
			err = decodeInto(data, &metrics)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("decode %s: %w", k, err)
		}
	}
	return pings, metrics, nil
}

// Keys lists the lake's object keys relative to the prefix, in lexical
// order.
func (s *S3) Keys(ctx context.Context) ([]string, error) { return s.keysUnder(ctx, "") }

// keysUnder lists the Parquet object keys (relative to the prefix) that
// start with under, in lexical order.
func (s *S3) keysUnder(ctx context.Context, under string) ([]string, error) {
	var keys []string
	pfx := ""
	if s.prefix != "" {
		pfx = s.prefix + "/"
	}
	pg := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(pfx + under)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", s.bucket, pfx, err)
		}
		for _, o := range page.Contents {
			k := strings.TrimPrefix(aws.ToString(o.Key), pfx)
			if strings.HasSuffix(k, ".parquet") {
				keys = append(keys, k)
			}
		}
	}
	return keys, nil
}

func decodeInto[T any](data []byte, out *[]T) error {
	return decodeRows(bytes.NewReader(data), int64(len(data)), out)
}
