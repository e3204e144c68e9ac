package eval

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/dsn"
)

// Run parses and classifies the file of each label, relative to dir, and
// scores them in label order. Files are read on GOMAXPROCS workers. A file
// that cannot be read is an error that stops the run, since the labels then
// describe a folder that is not the one given; a damaged message is not.
func Run(ctx context.Context, p *dsn.Parser, c *classify.Classifier, dir string, labels []Label) (*Tally, error) {
	outcomes := make([]Outcome, len(labels))
	errs := make([]error, len(labels))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	next := make(chan int)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				outcomes[i], errs[i] = judgeFile(p, c, filepath.Join(dir, filepath.FromSlash(labels[i].File)))
				if errs[i] != nil {
					cancel()
				}
			}
		})
	}
feed:
	for i := range labels {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()

	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("evaluating %s: %w", dir, err)
	}
	t := new(Tally)
	for i, l := range labels {
		t.Add(l, outcomes[i])
	}
	return t, nil
}

func judgeFile(p *dsn.Parser, c *classify.Classifier, path string) (Outcome, error) {
	f, err := os.Open(path)
	if err != nil {
		return Outcome{}, fmt.Errorf("opening labelled message: %w", err)
	}
	defer f.Close()
	o := Judge(p, c, f)
	if o.ReadErr != nil {
		return Outcome{}, fmt.Errorf("reading %s: %w", path, o.ReadErr)
	}
	return o, nil
}
