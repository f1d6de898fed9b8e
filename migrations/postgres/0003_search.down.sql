DROP INDEX search_documents_tsv;
DROP INDEX search_documents_owner;
DROP INDEX search_documents_task;
DROP TABLE search_documents;
