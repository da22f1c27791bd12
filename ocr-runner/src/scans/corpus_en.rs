//! English text for generated scans, split like [`super::corpus_ko`]: the
//! first half of every list for tuning pages, the second for held-out pages.

use super::corpus::Manual;

pub const PROSE: &[&str] = &[
    // tuning
    "Before you install the update, make sure that every open document has been saved. The installer closes running programs without asking, and any unsaved changes will be lost. The whole process usually takes less than ten minutes on a recent machine.",
    "The committee met on Thursday to review the budget for the coming year. Most departments asked for the same amount as last year, but the library requested an increase to replace its ageing computers, which the committee approved after a short discussion.",
    "Water the seedlings in the morning rather than in the evening, so that the leaves dry before nightfall. Young plants need steady moisture, not floods: a light watering every day is better than a heavy one twice a week.",
    "Our support team answers most questions within one working day. If your request is urgent, call the number on the back of your card and have your account number ready; calls are recorded for training purposes.",
    "The bridge was closed for repairs in early March after inspectors found cracks in two of its supporting beams. Traffic was diverted through the old town, which doubled the journey time for many commuters until the work was finished.",
    "A good error message tells the reader what went wrong, why it matters, and what to do next. Messages that only say that an operation failed leave the user guessing, and they generate support tickets that a better sentence would have prevented.",
    "My grandfather kept bees behind the orchard for almost forty years. Every August he would put on his old veil, light the smoker, and carry the frames into the kitchen, where the whole family helped to spin out the honey.",
    "Expenses must be submitted within thirty days of the trip, together with the original receipts. Meals are reimbursed up to the daily limit set by the travel policy, and alcohol is never covered, whatever the occasion.",
    "The survey asked three hundred small businesses how they handle their accounts. Nearly half still use spreadsheets, a quarter rely on an external bookkeeper, and only one in five has adopted dedicated accounting software.",
    "When the power failed, the backup generator started within twelve seconds, exactly as designed. The only service that went down was the visitor wireless network, because its access points had been left off the protected circuit.",
    "Please return the signed contract by the end of the month. If any clause is unclear, mark it in the margin and we will arrange a short call to go through your questions before you sign.",
    "The museum reopens on Saturday with a new gallery devoted to maps and navigation. Among the highlights are a sixteenth century sea chart, a brass astrolabe, and a collection of pocket compasses donated by a retired captain.",
    // held out
    "Regular backups are only useful if you can restore from them. Once a quarter, pick a random file from last week's backup, restore it to a spare folder, and compare it with the original; write down how long the restore took.",
    "The bakery on the corner opens at six, and by seven there is usually a queue out of the door. Regulars know to ask for the rye loaf early, because it is baked only once a day and rarely lasts past nine.",
    "Applicants should include a short cover letter explaining why they are interested in the position. References are not required at this stage, but shortlisted candidates will be asked to provide two before the final interview.",
    "During the night shift, the operator on duty checks the alarms every hour and records the readings in the log book. Any value outside the normal range must be reported to the engineer on call, even if it returns to normal on its own.",
    "The new timetable adds an early train from the coast at five forty, which should help people who start work before seven. The last evening service now leaves twenty minutes later, at eleven fifteen, on weekdays only.",
    "Keep the receipt: it is your proof of purchase and you will need it for any repair under warranty. The warranty covers defects in materials and workmanship for two years, but not damage caused by accidents or misuse.",
    "After months of planning, the volunteers finally cleared the canal towpath from the lock to the old mill. They removed over two tonnes of rubbish, cut back the brambles, and put up new signs for walkers and cyclists.",
    "Each chapter ends with a set of exercises, arranged from easy to difficult. Answers to the odd numbered exercises are given at the back of the book; the others are left for discussion in class.",
    "The outage began at a quarter past two, when a configuration change sent all traffic to a single data centre. Engineers rolled the change back within forty minutes, and the service was fully restored shortly after three.",
    "If you are unable to attend the meeting in person, you may vote by post. Fill in the enclosed form, sign it, and send it in the prepaid envelope so that it arrives no later than the Friday before the meeting.",
    "Our neighbours planted a row of apple trees along the fence the year we moved in. Now, every autumn, they leave a basket of fruit on our doorstep, and we return the basket filled with jam.",
    "The report recommends three changes: shorter approval times for small purchases, a single form for all travel requests, and a monthly summary of spending sent to every team leader.",
];

pub const MANUALS: &[Manual] = &[
    // tuning
    Manual {
        command: "cp",
        summary: "copy files and directories",
        synopsis: "cp [OPTION]... SOURCE... DIRECTORY",
        description: "Copy SOURCE to DEST, or multiple SOURCEs to DIRECTORY. Existing files are overwritten unless told otherwise.",
        options: &[
            ("-a, --archive", "same as -dR --preserve=all"),
            ("-i, --interactive", "prompt before overwrite"),
            ("-n, --no-clobber", "do not overwrite an existing file"),
            ("-r, -R, --recursive", "copy directories recursively"),
            (
                "-u, --update",
                "copy only when the SOURCE file is newer than the destination file or when the destination file is missing",
            ),
            ("-v, --verbose", "explain what is being done"),
            ("--sparse=WHEN", "control creation of sparse files"),
        ],
    },
    Manual {
        command: "sort",
        summary: "sort lines of text files",
        synopsis: "sort [OPTION]... [FILE]...",
        description: "Write sorted concatenation of all FILEs to standard output. With no FILE, read standard input.",
        options: &[
            ("-b, --ignore-leading-blanks", "ignore leading blanks"),
            (
                "-f, --ignore-case",
                "fold lower case to upper case characters",
            ),
            (
                "-n, --numeric-sort",
                "compare according to string numerical value",
            ),
            ("-r, --reverse", "reverse the result of comparisons"),
            (
                "-k, --key=KEYDEF",
                "sort via a key; KEYDEF gives location and type",
            ),
            (
                "-t, --field-separator=SEP",
                "use SEP instead of non-blank to blank transition",
            ),
            ("-u, --unique", "output only the first of an equal run"),
        ],
    },
    Manual {
        command: "wget",
        summary: "the non-interactive network downloader",
        synopsis: "wget [option]... [URL]...",
        description: "Wget is a free utility for downloading files from the Web. It can work in the background while the user is not logged on.",
        options: &[
            ("-q, --quiet", "turn off the output of wget"),
            (
                "-O file, --output-document=file",
                "the documents will be written to file",
            ),
            (
                "-c, --continue",
                "continue getting a partially downloaded file",
            ),
            ("-t number, --tries=number", "set number of tries to number"),
            (
                "-T seconds, --timeout=seconds",
                "set the network timeout to seconds",
            ),
            (
                "--limit-rate=amount",
                "limit the download speed to amount bytes per second",
            ),
        ],
    },
    Manual {
        command: "chmod",
        summary: "change file mode bits",
        synopsis: "chmod [OPTION]... MODE[,MODE]... FILE...",
        description: "Change the file mode bits of each given file according to MODE, which can be either a symbolic representation of changes to make, or an octal number.",
        options: &[
            (
                "-c, --changes",
                "like verbose but report only when a change is made",
            ),
            ("-f, --silent, --quiet", "suppress most error messages"),
            (
                "-R, --recursive",
                "change files and directories recursively",
            ),
            (
                "--reference=RFILE",
                "use the mode of RFILE instead of MODE values",
            ),
            (
                "--preserve-root",
                "fail to operate recursively on the root directory",
            ),
        ],
    },
    Manual {
        command: "du",
        summary: "estimate file space usage",
        synopsis: "du [OPTION]... [FILE]...",
        description: "Summarize device usage of the set of FILEs, recursively for directories.",
        options: &[
            (
                "-a, --all",
                "write counts for all files, not just directories",
            ),
            ("-c, --total", "produce a grand total"),
            (
                "-d, --max-depth=N",
                "print the total for a directory only if it is N or fewer levels below the command line argument",
            ),
            (
                "-h, --human-readable",
                "print sizes in human readable format",
            ),
            ("-s, --summarize", "display only a total for each argument"),
            (
                "-x, --one-file-system",
                "skip directories on different file systems",
            ),
        ],
    },
    // held out
    Manual {
        command: "head",
        summary: "output the first part of files",
        synopsis: "head [OPTION]... [FILE]...",
        description: "Print the first 10 lines of each FILE to standard output. With more than one FILE, precede each with a header giving the file name.",
        options: &[
            (
                "-c, --bytes=[-]NUM",
                "print the first NUM bytes of each file",
            ),
            (
                "-n, --lines=[-]NUM",
                "print the first NUM lines instead of the first 10",
            ),
            (
                "-q, --quiet, --silent",
                "never print headers giving file names",
            ),
            ("-v, --verbose", "always print headers giving file names"),
            (
                "-z, --zero-terminated",
                "line delimiter is NUL, not newline",
            ),
        ],
    },
    Manual {
        command: "ping",
        summary: "send ICMP ECHO_REQUEST to network hosts",
        synopsis: "ping [-aAbBdDfhLnOqrRUvV46] [-c count] [-i interval] destination",
        description: "ping uses the ICMP protocol's mandatory ECHO_REQUEST datagram to elicit an ICMP ECHO_RESPONSE from a host or gateway.",
        options: &[
            ("-c count", "stop after sending count ECHO_REQUEST packets"),
            (
                "-i interval",
                "wait interval seconds between sending each packet",
            ),
            (
                "-n",
                "numeric output only; no attempt will be made to lookup symbolic names",
            ),
            (
                "-q",
                "quiet output; nothing is displayed except the summary lines",
            ),
            (
                "-s packetsize",
                "specifies the number of data bytes to be sent",
            ),
            ("-W timeout", "time to wait for a response, in seconds"),
            ("-4", "use IPv4 only"),
        ],
    },
    Manual {
        command: "zip",
        summary: "package and compress files",
        synopsis: "zip [-aABcdDeEfFghjklLmoqrRSTuvVwXyz!@$] [--longoption ...] [zipfile [file ...]]",
        description: "zip is a compression and file packaging utility. It is analogous to a combination of the tar command and the compress command.",
        options: &[
            (
                "-r, --recurse-paths",
                "travel the directory structure recursively",
            ),
            (
                "-e, --encrypt",
                "encrypt the contents of the zip archive using a password",
            ),
            (
                "-u, --update",
                "replace an existing entry only if it has been modified more recently",
            ),
            ("-x, --exclude", "explicitly exclude the specified files"),
            ("-9", "compress better, at the cost of speed"),
            (
                "-q, --quiet",
                "quiet mode; eliminate informational messages",
            ),
        ],
    },
    Manual {
        command: "crontab",
        summary: "maintain crontab files for individual users",
        synopsis: "crontab [-u user] [-l | -r | -e] [-i]",
        description: "crontab is the program used to install, remove or list the tables used to drive the cron daemon.",
        options: &[
            (
                "-u user",
                "specify the name of the user whose crontab is to be used",
            ),
            ("-l", "display the current crontab on standard output"),
            ("-r", "remove the current crontab"),
            (
                "-e",
                "edit the current crontab using the editor specified by VISUAL or EDITOR",
            ),
            (
                "-i",
                "prompt before deleting the crontab, used together with -r",
            ),
        ],
    },
    Manual {
        command: "journalctl",
        summary: "print log entries from the systemd journal",
        synopsis: "journalctl [OPTIONS...] [MATCHES...]",
        description: "journalctl may be used to query the contents of the systemd journal as written by the journal service.",
        options: &[
            (
                "-f, --follow",
                "show only the most recent entries, and print new entries as they are appended",
            ),
            ("-u, --unit=UNIT", "show messages for the specified unit"),
            ("-b, --boot", "show messages from a specific boot"),
            (
                "-p, --priority=",
                "filter output by message priorities or priority ranges",
            ),
            (
                "-n, --lines=",
                "show the most recent journal events and limit the number shown",
            ),
            (
                "--since=, --until=",
                "start or end showing entries on or newer than the specified date",
            ),
            (
                "-r, --reverse",
                "reverse output so that the newest entries are displayed first",
            ),
        ],
    },
];

pub const TABLE_ITEMS: &[(&str, &str, &str)] = &[
    // tuning
    ("Copy paper", "box", "office"),
    ("Ballpoint pens", "pack", "black"),
    ("Monitor", "unit", "replacement"),
    ("Office chair", "each", "meeting room"),
    ("Toner cartridge", "each", "urgent"),
    ("Laptop", "unit", "new hire"),
    ("Coffee beans", "bag", "kitchen"),
    ("Cleaning kit", "set", "monthly"),
    ("Shipping boxes", "bundle", "warehouse"),
    ("Power cable", "each", "spare"),
    // held out
    ("Whiteboard", "each", "training"),
    ("Hand sanitiser", "bottle", "entrance"),
    ("External drive", "each", "backup"),
    ("Business cards", "box", "sales"),
    ("Bottled water", "case", "event"),
    ("Desk lamp", "each", "replacement"),
    ("Umbrella", "each", "lobby"),
    ("Keyboard", "each", "engineering"),
    ("Envelopes", "pack", "mailing"),
    ("Fire extinguisher", "each", "inspection"),
];

pub const TABLE_HEADINGS: [&str; 6] = ["No.", "Item", "Qty", "Unit", "Price", "Note"];

pub const MANUAL_HEADINGS: [&str; 4] = ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS"];
