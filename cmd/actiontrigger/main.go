// Command actiontrigger runs the actiontrigger engine from the command line.
//
//	actiontrigger demo [--db file.db|postgres-dsn|memory]   run the expense-claim scenario
//	actiontrigger migrate --db file.db|postgres-dsn          apply the SQL store's migrations
//	actiontrigger bench --store memory|sqlite|postgres --n 20000 --workers W [--fail-first]
//	actiontrigger serve [--addr :3000] [--db file.db|postgres-dsn|memory] [--config dir]
//	actiontrigger load [--url http://host:port --token T] --n 20000 --c 16
//	actiontrigger diagram [--db ...] [--execution ID] [--format mermaid|svg] <workflow.json | key>
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: actiontrigger <command> [flags]

commands:
  demo     run the expense-claim scenario and print what happened
           [--db actiontrigger-demo.db | postgres://... | memory]
  migrate  apply the SQL store's migrations: --db file.db | postgres://...
  bench    burn-down throughput: --store memory|sqlite|postgres --n 20000 --workers W
           [--fail-first: paired with a node failing its first attempt, the cost of a retry]
  serve    the HTTP API (NocoBase-compatible routes) with the expense-claim example
           [--addr :3000] [--db actiontrigger.db | postgres://... | memory] [--config dir]
  load     HTTP load: N creates at concurrency C with one sync workflow bound
           [--url http://host:port --token T --collection C --workflow K] [--n 20000 --c 16]
  diagram  draw a workflow as Mermaid or SVG: <workflow.json [key] | key>
           [--db actiontrigger.db | postgres://... | memory] [--execution ID] [--format mermaid|svg]
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "demo":
		err = demo(ctx, args[1:], stdout)
	case "migrate":
		err = migrate(ctx, args[1:], stdout)
	case "bench":
		err = bench(ctx, args[1:], stdout)
	case "serve":
		err = serve(ctx, args[1:], stdout, stderr)
	case "load":
		err = load(ctx, args[1:], stdout)
	case "diagram":
		err = drawDiagram(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "actiontrigger: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "actiontrigger %s: %v\n", args[0], err)
		return 1
	}
	return 0
}
