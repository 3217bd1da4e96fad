/*
 * start_options.h — POST /peers options: validated with OTP's error names
 * (invalid_arg, exec, shutdown, detached) and normalised.
 */
#ifndef PEERD_START_OPTIONS_H
#define PEERD_START_OPTIONS_H

#include <cjson/cJSON.h>

#include "manager.h"

typedef struct { char code[32]; char detail[512]; } start_options_error;

/* Fills o (zeroed by the caller) from body and writes the normalised options
 * into norm; false with e set when an option is wrong. */
bool start_options_parse(const cJSON *body, pm_start_opts *o, cJSON *norm, start_options_error *e);

#endif
