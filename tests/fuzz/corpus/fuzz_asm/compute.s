module 0x1 compute

; hash(n): n rounds of SHA-256 over 32 bytes of scratch memory
; seeded with the sender; the result is emitted as an event
function entry hash (u64) -> () locals 0
	push 0
	sender
	mstore
loop:
	load 0
	jz done
	push 0
	push 0
	push 32
	hash
	load 0
	push 1
	sub
	store 0
	jmp loop
done:
	push 0
	mload
	emit 1
	ret
end
