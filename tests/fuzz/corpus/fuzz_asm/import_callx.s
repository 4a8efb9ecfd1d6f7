module 0x2 user
import 0x1 account balance (u64) -> (u64)
import 0x1 counter value (u64) -> (u64)
const 18446744073709551615
resource Pair left right

function entry run (u64) -> () locals 1
	load 0
	callx account.balance
	sender
	callx counter.value
	add
	const 0
	lt
	jz skip
	sender
	push 1
	push 2
	rnew Pair
skip:
	sender
	exists Pair
	pop
	ret
end
