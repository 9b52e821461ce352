mod backlog;
