// Command httpprobe is the container health check of the serviceping
// images, which have no shell, curl or wget: it GETs one URL and exits 0
// when the answer is 2xx, 1 otherwise (a refused connection, a timeout,
// another status), saying why on stderr.
//
//	httpprobe [-timeout 3s] [-insecure] URL
//
// -insecure skips the certificate check of an https URL: the gateway's
// certificate names the host GitLab instances call, not 127.0.0.1.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stderr))
}

// run probes the URL of args and returns the exit code.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("httpprobe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 3*time.Second, "bound on the whole request")
	insecure := fs.Bool("insecure", false, "skip the certificate check of an https URL")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: httpprobe [-timeout 3s] [-insecure] URL")
		return 2
	}
	url := fs.Arg(0)
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintf(stderr, "httpprobe: %v\n", err)
		return 2
	}
	tr := &http.Transport{DisableKeepAlives: true}
	if *insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} // a local health check: see the package doc
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "httpprobe: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		fmt.Fprintf(stderr, "httpprobe: GET %s: %s\n", url, resp.Status)
		return 1
	}
	return 0
}
