import t from 'tap'
t.equal(1 as number, 1)
