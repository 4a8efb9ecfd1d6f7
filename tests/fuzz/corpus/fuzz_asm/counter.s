module 0x1 counter
resource Counter value

function private init () -> () locals 0
	push 1
	push 0
	rnew Counter
	ret
end

; increment(): the global counter at 0x1; emits the new value
function entry increment () -> () locals 1
	push 1
	rget Counter value
	push 1
	add
	store 0
	push 1
	load 0
	rset Counter value
	load 0
	emit 1
	ret
end

; increment_mine(): the sender's own counter, created on first use
function entry increment_mine () -> () locals 0
	sender
	exists Counter
	jnz have
	sender
	push 0
	rnew Counter
have:
	sender
	sender
	rget Counter value
	push 1
	add
	rset Counter value
	ret
end

function public value (u64) -> (u64) locals 0
	load 0
	rget Counter value
	ret
end
