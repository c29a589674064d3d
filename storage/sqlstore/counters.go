package sqlstore

import (
	"math/bits"
	"math/rand/v2"
	"sync"
)

// counterShards is how many rows each execution counter is split into
// (actiontrigger_workflow_counter_shards, actiontrigger_key_counter_shards).
//
// A transaction that counts an execution holds the row lock of its shard until
// it commits. With one row per counter, every concurrent execution of a
// workflow waited for the previous one's commit (its WAL flush) on
// PostgreSQL. Reads sum the shards.
const counterShards = 16

// shardPool hands each write transaction of the process that counts
// executions a shard no other one of them holds, so that in-process
// transactions never wait on each other's counter rows while at most
// counterShards of them count at once. Free shards are picked at random, so
// that processes sharing a database seldom pick the same. Past counterShards
// concurrent transactions, shards are shared (picked at random, unleased).
type shardPool struct {
	mu   sync.Mutex
	busy uint32 // bit i: shard i is leased
}

// lease returns a shard and whether it is leased (then release it once the
// transaction ended).
func (p *shardPool) lease() (shard int, leased bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	free := ^p.busy & (1<<counterShards - 1)
	if free == 0 {
		return rand.IntN(counterShards), false
	}
	for k := rand.IntN(bits.OnesCount32(free)); k > 0; k-- {
		free &= free - 1 // drop the lowest free shard
	}
	shard = bits.TrailingZeros32(free)
	p.busy |= 1 << shard
	return shard, true
}

func (p *shardPool) release(shard int) {
	p.mu.Lock()
	p.busy &^= 1 << shard
	p.mu.Unlock()
}

// counterShard returns the shard t counts its executions in, leasing one on
// first use. SQLite has one writer at a time: it counts in shard 0.
func (st *state) counterShard(t *txState) int {
	if st.d == SQLite {
		return 0
	}
	if !t.hasShard {
		if t.bound {
			// The host ends the transaction, unseen: no lease to release.
			t.shard = rand.IntN(counterShards)
		} else {
			t.shard, t.shardLeased = st.shards.lease()
		}
		t.hasShard = true
	}
	return t.shard
}

// txEnded releases the shard t leased. Call it once t committed or rolled
// back (its row locks are gone).
func (st *state) txEnded(t *txState) {
	if t.shardLeased {
		t.shardLeased = false
		st.shards.release(t.shard)
	}
}
