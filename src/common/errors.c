/*
 * errors.c - names and messages generated from BSTM_ERRNO_MAP, so the enum,
 * bstm_strerror() and bstm_errname() can never disagree.
 */
#include <time.h>

#include "common/common.h"

const char *bstm_strerror(int code)
{
	switch (code) {
	case BSTM_OK:
		return "success";
#define BSTM_STRERROR_CASE_(name, value, message)                                                  \
	case BSTM_##name:                                                                          \
		return message;
		BSTM_ERRNO_MAP(BSTM_STRERROR_CASE_)
#undef BSTM_STRERROR_CASE_
	}
	return "unknown error";
}

const char *bstm_errname(int code)
{
	switch (code) {
	case BSTM_OK:
		return "OK";
#define BSTM_ERRNAME_CASE_(name, value, message)                                                   \
	case BSTM_##name:                                                                          \
		return #name;
		BSTM_ERRNO_MAP(BSTM_ERRNAME_CASE_)
#undef BSTM_ERRNAME_CASE_
	}
	return "UNKNOWN";
}

const char *bstm_version(void)
{
#define BSTM_STR2_(x) #x
#define BSTM_STR_(x)  BSTM_STR2_(x)
	return BSTM_STR_(BSTM_VERSION_MAJOR) "." BSTM_STR_(BSTM_VERSION_MINOR) "." BSTM_STR_(
		BSTM_VERSION_PATCH);
}

uint64_t bstm_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
