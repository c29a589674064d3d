package memory

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// queue lists the runnable executions in creation order with their leases.
//
// Only write transactions read or change it, under go-memdb's writer lock, so
// it needs no versions of its own: a transaction changes it in place as it
// writes executions and logs how to undo each change, and a rollback replays
// the log backwards. Keeping it out of go-memdb saves a radix tree write on
// every enqueue, claim, job insert and finish.
type queue struct {
	// order holds entries by seq. Entries that left the queue are marked gone
	// and dropped in bulk when a commit finds enough of them.
	order []*qent
	// head indexes the first entry of order that may be live.
	head int
	gone int
	// live maps an execution id to its entry.
	live map[string]*qent
}

// qent is the queue entry of one runnable execution.
type qent struct {
	seq   uint64
	id    string
	owner string
	until time.Time
	// after is the execution's RunAfter: it is not claimed before.
	after time.Time
	gone  bool
}

// qundo undoes one change of the queue: it revives or drops ent, or restores
// its lease and timer.
type qundo struct {
	ent   *qent
	op    byte // 'r': revive, 'd': drop, 'l': restore the lease and timer
	owner string
	until time.Time
	after time.Time
}

// leased reports whether the entry's lease is still valid at now.
func (q *qent) leased(now time.Time) bool {
	return q.owner != "" && !q.until.Before(now)
}

// claimable reports whether the entry may be claimed at now: its lease is
// empty or ended and its timer, if any, is due.
func (q *qent) claimable(now time.Time) bool {
	return !q.gone && !q.leased(now) && !q.after.After(now)
}

// sync makes the queue agree with a new version of an execution.
func (t *txState) queueSync(r *execRow) {
	q := &t.st.queue
	ent := q.live[r.e.ID]
	switch {
	case !r.e.Runnable:
		if ent != nil {
			q.drop(ent)
			t.qundo = append(t.qundo, qundo{ent: ent, op: 'r'})
		}
	case ent == nil:
		ent = &qent{seq: r.seq, id: r.e.ID, owner: r.e.LeaseOwner, until: r.e.LeaseUntil, after: r.e.RunAfter}
		q.add(ent)
		t.qundo = append(t.qundo, qundo{ent: ent, op: 'd'})
	case ent.owner != r.e.LeaseOwner || !ent.until.Equal(r.e.LeaseUntil) || !ent.after.Equal(r.e.RunAfter):
		t.qundo = append(t.qundo, qundo{ent: ent, op: 'l', owner: ent.owner, until: ent.until, after: ent.after})
		ent.owner, ent.until, ent.after = r.e.LeaseOwner, r.e.LeaseUntil, r.e.RunAfter
	}
}

// queueDrop removes a deleted execution from the queue.
func (t *txState) queueDrop(id string) {
	q := &t.st.queue
	if ent := q.live[id]; ent != nil {
		q.drop(ent)
		t.qundo = append(t.qundo, qundo{ent: ent, op: 'r'})
	}
}

// queueUndo reverts the queue changes of a transaction that rolls back.
func (t *txState) queueUndo() {
	q := &t.st.queue
	for i := len(t.qundo) - 1; i >= 0; i-- {
		u := &t.qundo[i]
		switch u.op {
		case 'r':
			u.ent.gone = false
			q.live[u.ent.id] = u.ent
			q.gone--
		case 'd':
			q.drop(u.ent)
		case 'l':
			u.ent.owner, u.ent.until, u.ent.after = u.owner, u.until, u.after
		}
	}
	t.qundo = t.qundo[:0]
}

// add inserts a new entry in seq order: at the end for a new execution, in
// the middle for an old one that became runnable again. Slots before head are
// free.
func (q *queue) add(ent *qent) {
	q.live[ent.id] = ent
	n := len(q.order)
	if n == q.head || q.order[n-1].seq < ent.seq {
		q.order = append(q.order, ent)
		return
	}
	tail := q.order[q.head:]
	i := q.head + sort.Search(len(tail), func(i int) bool { return tail[i].seq >= ent.seq })
	if i == q.head && q.head > 0 {
		q.head--
		q.order[q.head] = ent
		return
	}
	q.order = append(q.order, nil)
	copy(q.order[i+1:], q.order[i:])
	q.order[i] = ent
}

// drop marks an entry gone.
func (q *queue) drop(ent *qent) {
	ent.gone = true
	delete(q.live, ent.id)
	q.gone++
}

// tidy runs after a commit, when no undo can revive a gone entry: it moves
// head past gone entries and compacts order once most entries are gone.
func (q *queue) tidy() {
	for q.head < len(q.order) && q.order[q.head].gone {
		q.order[q.head] = nil
		q.head++
		q.gone--
	}
	if q.head == len(q.order) {
		q.order, q.head = q.order[:0], 0
		return
	}
	if live := len(q.order) - q.head - q.gone; q.head+q.gone > 64 && q.head+q.gone > live {
		kept := make([]*qent, 0, 2*live)
		for _, ent := range q.order[q.head:] {
			if !ent.gone {
				kept = append(kept, ent)
			}
		}
		q.order, q.head, q.gone = kept, 0, 0
	}
}

// ClaimExecutions claims up to p.Limit runnable executions whose lease is empty
// or ended and whose RunAfter is not after p.Now, oldest first, in one write
// transaction. It walks the queue, skipping executions leased to a worker or
// waiting out a timer: a claim costs O(leased + waiting + claimed), a pointer
// and two time comparisons per skipped entry.
func (s *Store) ClaimExecutions(ctx context.Context, p storage.ClaimParams) ([]*flow.Execution, error) {
	if p.Owner == "" {
		return nil, errors.New("memory: ClaimExecutions: empty owner")
	}
	if p.Limit <= 0 {
		return nil, nil
	}
	var out []*flow.Execution
	err := s.write(ctx, func(t *txState) error {
		q := &t.st.queue
		var ids []string
		for _, ent := range q.order[q.head:] {
			if len(ids) == p.Limit {
				break
			}
			if ent.claimable(p.Now) {
				ids = append(ids, ent.id)
			}
		}
		if len(ids) == 0 {
			return nil
		}
		// One allocation for the new rows, one for the copies handed out.
		claimed := make([]execRow, len(ids))
		copies := make([]flow.Execution, len(ids))
		out = make([]*flow.Execution, len(ids))
		for i, id := range ids {
			old, err := getExecRow(t, id)
			if err != nil {
				return err
			}
			c := &claimed[i]
			*c = *old
			c.e.LeaseOwner, c.e.LeaseUntil = p.Owner, p.LeaseUntil
			c.e.Attempt++
			if err := t.putExec(c); err != nil {
				return err
			}
			copies[i] = c.e
			out[i] = &copies[i]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ReleaseLeases clears the leases owner holds on ids and takes back their
// claims' Attempt, in one write transaction.
func (s *Store) ReleaseLeases(ctx context.Context, owner string, ids []string) error {
	if len(ids) == 0 || owner == "" {
		return nil
	}
	return s.write(ctx, func(t *txState) error {
		for _, id := range ids {
			obj, err := t.getID(kindExecution, id)
			if err != nil {
				return err
			}
			if obj == nil || obj.(*execRow).e.LeaseOwner != owner {
				continue
			}
			r := *obj.(*execRow)
			r.e.LeaseOwner, r.e.LeaseUntil = "", time.Time{}
			r.e.Attempt = max(r.e.Attempt-1, 0)
			if err := t.putExec(&r); err != nil {
				return err
			}
		}
		return nil
	})
}

// ExtendLeases moves the lease end of the executions owner holds to until and
// returns the ids it does not hold (any more).
func (s *Store) ExtendLeases(ctx context.Context, owner string, ids []string, until time.Time) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var lost []string
	err := s.write(ctx, func(t *txState) error {
		lost = lost[:0]
		for _, id := range ids {
			obj, err := t.getID(kindExecution, id)
			if err != nil {
				return err
			}
			if obj == nil || owner == "" || obj.(*execRow).e.LeaseOwner != owner {
				lost = append(lost, id)
				continue
			}
			r := *obj.(*execRow)
			r.e.LeaseUntil = until
			if err := t.putExec(&r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return lost, nil
}

var _ storage.QueueStats = (*Store)(nil)

// QueueStats counts the queue as of now (storage.QueueStats). It walks the
// queue, reading the row of each due execution, and every task: O(queue +
// tasks), under the writer lock, as a claim does.
func (s *Store) QueueStats(ctx context.Context, now time.Time) (storage.QueueStat, error) {
	var st storage.QueueStat
	err := s.write(ctx, func(t *txState) error {
		st = storage.QueueStat{}
		q := &t.st.queue
		for _, ent := range q.order[q.head:] {
			switch {
			case ent.gone:
			case ent.after.After(now):
				st.Scheduled++
			case ent.leased(now):
				st.Leased++
			default:
				st.Depth++
				due := ent.after
				if due.IsZero() {
					r, err := getExecRow(t, ent.id)
					if err != nil {
						return err
					}
					due = r.e.UpdatedAt
				}
				if st.Oldest.IsZero() || due.Before(st.Oldest) {
					st.Oldest = due
				}
			}
		}
		it, err := t.txn.Get(tableTasks, indexID+"_prefix", []byte(nil))
		if err != nil {
			return storageErr(err)
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			if raw.(*taskRow).t.Status == flow.TaskPending {
				st.PendingTasks++
			}
		}
		return nil
	})
	return st, err
}
