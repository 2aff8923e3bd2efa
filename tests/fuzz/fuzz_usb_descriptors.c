/* fuzz_usb_descriptors.c — libFuzzer target for the USB descriptor parser.
 *
 * The bytes of a sysfs `descriptors` file come from the device (BadUSB): the parser must
 * never read out of bounds, loop, or accept something whose parts do not add up. Seeds:
 * the H: descriptors= lines of tests/usb/<name>.umockdev. Every accepted input is also
 * run through the decision under the built-in strict policy, so the whole path from bytes
 * to verdict is covered.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "agent/usb_decision.h"
#include "agent/usb_descriptors.h"
#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct policy *strict;
        static struct usb_device_desc dev;
        static struct usb_decision decision;

        if (!strict && policy_default_strict(&strict) < 0)
                abort();
        if (usb_descriptors_parse(data, size, &dev) < 0)
                return 0;
        if (dev.n_interfaces > USB_MAX_INTERFACE_DESCS || dev.n_configs == 0 ||
            dev.n_configs > USB_MAX_CONFIGS)
                abort();
        usb_decide(strict, &dev, "SERIAL", "terminal", 1795000000, &decision);
        /* The strict policy never lets storage through. */
        for (size_t i = 0; i < decision.n_interfaces; i++)
                if (decision.interfaces[i].function == USB_FUNCTION_MASS_STORAGE &&
                    decision.interfaces[i].authorize)
                        abort();
        return 0;
}
